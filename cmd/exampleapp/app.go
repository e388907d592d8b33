package main

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// appConfig configures the example application.
type appConfig struct {
	// Store is the route source (the fleet's control plane).
	Store tenants.RouteSource
	// Redis carries route changes, drains and the published statistics.
	Redis redis.UniversalClient
	// Fleet is the fleet's name.
	Fleet string
	// Token is the bearer token clients present.
	Token string
	// Pools are the pool settings; Resolver, Fleet, Redis and Logger are
	// filled in.
	Pools tenants.PoolsConfig
	// ProcessID names the process in its published statistics. Default
	// exampleapp-<hostname-pid>.
	ProcessID string
	Logger    *slog.Logger
}

// app is the example application: a router, pools and the handlers.
type app struct {
	router *tenants.Router
	pools  *tenants.Pools
	cfg    appConfig
}

func newApp(ctx context.Context, cfg appConfig) (*app, error) {
	router, err := tenants.NewRouter(tenants.RouterConfig{Source: cfg.Store, Redis: cfg.Redis, Fleet: cfg.Fleet, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if err := router.Start(ctx); err != nil {
		return nil, err
	}
	pc := cfg.Pools
	pc.Resolver, pc.Fleet, pc.Redis, pc.Logger = router, cfg.Fleet, cfg.Redis, cfg.Logger
	if pc.ProcessID = cfg.ProcessID; pc.ProcessID == "" {
		host, _ := os.Hostname()
		pc.ProcessID = "exampleapp-" + host + "-" + strconv.Itoa(os.Getpid())
	}
	pools, err := tenants.NewPools(pc)
	if err != nil {
		router.Stop()
		return nil, err
	}
	// Start publishes the pools' statistics to Redis every StatsInterval
	// (tenants.StatsKey) for the fleet's pool watch, and obeys drains.
	if err := pools.Start(ctx); err != nil {
		router.Stop()
		return nil, err
	}
	return &app{router: router, pools: pools, cfg: cfg}, nil
}

// Stop closes the pools and the router.
func (a *app) Stop() {
	a.pools.Stop()
	a.router.Stop()
}

// Handler is the application's HTTP API.
func (a *app) Handler() http.Handler {
	tenantMux := http.NewServeMux()
	tenantMux.HandleFunc("GET /t/{tenant}/accounts", a.listAccounts)
	tenantMux.HandleFunc("POST /t/{tenant}/accounts", a.createAccount)
	tenantMux.HandleFunc("POST /t/{tenant}/work", a.work)
	scoped := tenants.Middleware(tenants.MiddlewareConfig{
		Resolver: a.router, Authorize: a.authorize, PathValue: "tenant", Logger: a.cfg.Logger,
	}, tenantMux)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	// The middleware reads the path value, so the patterns are matched
	// on the outer mux too.
	for _, p := range []string{"GET /t/{tenant}/accounts", "POST /t/{tenant}/accounts", "POST /t/{tenant}/work"} {
		mux.Handle(p, scoped)
	}
	return mux
}

// authorize accepts a request carrying the application's bearer token. A
// real application maps its authenticated user to the tenants it may act
// for; the token here stands for that check.
func (a *app) authorize(r *http.Request, _ string) error {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.Token)) != 1 {
		return errors.New("exampleapp: not authorized")
	}
	return nil
}

// account is one row of the tenant's accounts table (tenant migration
// 00001).
type account struct {
	ID          string    `json:"id"`
	ExternalRef string    `json:"external_ref"`
	HolderName  string    `json:"holder_name"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	OpenedAt    time.Time `json:"opened_at"`
}

func (a *app) listAccounts(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenants.TenantFromContext(r.Context())
	var out []account
	err := a.pools.WithTenantReadOnly(r.Context(), tenant, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, external_ref, holder_name, currency, status, opened_at
			FROM accounts ORDER BY opened_at DESC LIMIT 100`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[account])
		return err
	})
	if a.failed(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": append([]account{}, out...)})
}

func (a *app) createAccount(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenants.TenantFromContext(r.Context())
	var in struct {
		ExternalRef string `json:"external_ref"`
		HolderName  string `json:"holder_name"`
		Currency    string `json:"currency"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.ExternalRef == "" || in.HolderName == "" || len(in.Currency) != 3 ||
		len(in.ExternalRef) > 200 || len(in.HolderName) > 200 {
		http.Error(w, "body must be {external_ref, holder_name (1-200 characters), currency (3 letters)}", http.StatusBadRequest)
		return
	}
	var id string
	err := a.pools.QueryRow(r.Context(), tenant, `INSERT INTO accounts (external_ref, holder_name, currency)
		VALUES ($1, $2, $3) RETURNING id::text`, in.ExternalRef, in.HolderName, in.Currency).Scan(&id)
	if a.failed(w, r, err) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// work is a batch job: it holds a connection for ms milliseconds at batch
// priority, the load of the case study's batch workers.
func (a *app) work(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenants.TenantFromContext(r.Context())
	ms, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("ms"), "50"))
	if err != nil || ms < 0 || ms > 60_000 {
		http.Error(w, "ms must be 0 to 60000", http.StatusBadRequest)
		return
	}
	ctx := tenants.WithPriority(r.Context(), tenants.Batch)
	_, err = a.pools.Exec(ctx, tenant, "SELECT pg_catalog.pg_sleep($1)", float64(ms)/1000)
	if a.failed(w, r, err) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// failed answers err: 503 with Retry-After for an exhausted pool, 500
// (without the error's text) for anything else.
func (a *app) failed(w http.ResponseWriter, r *http.Request, err error) bool {
	if err == nil {
		return false
	}
	if tenants.WriteUnavailable(w, err) {
		return true
	}
	a.cfg.Logger.ErrorContext(r.Context(), "request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	http.Error(w, fmt.Sprintf("internal error at %s", time.Now().UTC().Format(time.RFC3339)), http.StatusInternalServerError)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
