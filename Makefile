# tenantfleet: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

GO ?= go
GOLANGCI_LINT_VERSION := v2.15.0
GOBIN := $(shell $(GO) env GOPATH)/bin
BENCH_FLAGS ?=
DEMO_FLAGS ?=

.PHONY: help build services run demo test lint bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/fleet, bin/exampleapp and bin/fleetbench
	$(GO) build -o bin/ ./cmd/...

services: ## make sure PostgreSQL and Redis answer (starts project-local ones under .data/ if not)
	@.ci/services

run: services build ## run the whole fleet (api, scheduler, worker) in one process
	./bin/fleet run

demo: services build ## a demo to watch: fleet, example app, 12 tenants, a pool alert firing and resolving, a migration, cost advice (docs/demo.md)
	@.ci/services demo
	./bin/fleet demo $(DEMO_FLAGS)

test: services ## run every test with the race detector against the real PostgreSQL and Redis
	$(GO) test -race -count=1 -timeout 30m ./...

lint: ## go vet and golangci-lint (installed at a pinned version when missing)
	$(GO) vet ./...
	@if ! $(GOBIN)/golangci-lint version 2>/dev/null | grep -q "$(GOLANGCI_LINT_VERSION:v%=%)"; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION)"; \
		GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); fi
	$(GOBIN)/golangci-lint run ./...

bench: services build ## run the benchmarks (Go benchmarks and fleetbench scenarios), each beside its baseline
	$(GO) test -run '^$$' -bench . -benchmem ./tenants/
	$(GO) test -count=1 -run 'TestRouteChange' -v ./tenants/ | grep -E 'route change|^ok|FAIL'
	./bin/fleetbench noisy -tenants 18 -workers 4 -pool 20 -batch-ms 50 -duration 10s
	./bin/fleetbench scoped -n 5000
	@# Strict tenants beside pooled, naive and PgBouncer (a benchmark-only dependency).
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null)
	./bin/fleetbench scoped -isolation strict -n 5000
	./bin/fleetbench noisy -isolation strict -pgbouncer /usr/sbin/pgbouncer -tenants 18 -workers 4 -pool 20 -batch-ms 50 -duration 10s
	./bin/fleetbench onboard -tenants 200 -rate 10
	./bin/fleetbench onboard -tenants 200 -rate 0
	./bin/fleetbench migrate -tenants 1000 -concurrency 5
	@# The cost agent on a private cluster with pg_stat_statements preloaded; HypoPG is a Debian package.
	@[ -f /usr/share/postgresql/15/extension/hypopg.control ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-hypopg >/dev/null)
	./bin/fleetbench cost -tenants 50
	./bin/fleetbench cost -tenants 1000 -rows 2000 -skip-apply
	./bin/fleetbench chaos -tenants 300 -workers 3 -kill-every 2s -flush-redis-at 5s -migrate -offboard 30
	./bin/fleetbench sweep -tenants 1000 -instances 10
	./bin/fleetbench sweep -tenants 10000 -instances 10

clean: ## remove build output (and stop project-local services: .ci/services stop)
	rm -rf bin
