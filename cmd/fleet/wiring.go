package main

import (
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
)

// registerHandlers registers every agent's task handlers on the worker.
func registerHandlers(a *app, w *queue.Worker) {}

// registerSchedules adds the periodic entries to the scheduler.
func registerSchedules(a *app, s *queue.Scheduler) error { return nil }

// registerRoutes adds the webhooks and the REST API to the HTTP server.
func registerRoutes(a *app, srv *httpapi.Server) {}
