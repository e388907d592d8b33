package tenants

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
)

// WriteUnavailable answers 503 Service Unavailable with a Retry-After
// header (whole seconds, at least 1) when err is a *PoolExhaustedError,
// and reports whether it did. Use it first in an error path:
//
//	if err != nil {
//		if tenants.WriteUnavailable(w, err) {
//			return
//		}
//		http.Error(w, "internal error", http.StatusInternalServerError)
//	}
func WriteUnavailable(w http.ResponseWriter, err error) bool {
	var pe *PoolExhaustedError
	if !errors.As(err, &pe) {
		return false
	}
	secs := max(1, int(math.Ceil(pe.RetryAfter.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(w, "tenant database busy, retry later", http.StatusServiceUnavailable)
	return true
}

// DefaultTenantHeader is the request header Middleware reads by default.
const DefaultTenantHeader = "X-Tenant-ID"

// Authorize decides whether an authenticated request may act for a
// tenant: nil allows it, any error refuses it (403). The tenant id comes
// from the request (a header or the path), so anyone can name any tenant:
// the hook must check the id against who the application authenticated
// (a session, a token's claims, an mTLS identity), for example that the
// user belongs to the tenant. It runs before anything else touches the
// tenant: no SQL, no Redis, for a refused request. It must not panic.
type Authorize func(r *http.Request, tenantID string) error

// MiddlewareConfig configures Middleware.
type MiddlewareConfig struct {
	// Resolver checks that the tenant exists and is active. Required.
	Resolver Resolver
	// Authorize decides whether the request may act for the tenant it
	// names. Required: Middleware panics without it. There is no default
	// and no "allow all": the application must say who may act for which
	// tenant.
	Authorize Authorize
	// PathValue, when set, names the path wildcard holding the tenant id
	// (as in "/t/{tenant}/..."); it wins over the header when present.
	// Default empty: the header only.
	PathValue string
	// Header is the request header holding the tenant id. Default
	// X-Tenant-ID.
	Header string
	// Logger receives refused requests (tenant, method and path; never
	// the hook's error, which may describe the caller) and resolution
	// failures other than bad or unknown ids. Default: discard.
	Logger *slog.Logger
}

// Middleware takes the request's tenant id (from the path value or the
// header), asks cfg.Authorize whether the request may act for it, resolves
// it and puts its id and route in the request context for next
// (TenantFromContext, RouteFromContext). It answers 400 for a missing or
// invalid id (naming the rule broken), 403 when Authorize refuses (before
// any lookup, so a refused caller learns nothing, not even whether the
// tenant exists), 404 for an unknown tenant, 403 for a tenant that is not
// active, and 503 when routing fails.
//
// Middleware panics when cfg has no Resolver or no Authorize: a missing
// authorization hook is a programming error, caught when the handler is
// built rather than as an open door at run time.
func Middleware(cfg MiddlewareConfig, next http.Handler) http.Handler {
	if cfg.Resolver == nil {
		panic("tenants: Middleware needs MiddlewareConfig.Resolver")
	}
	if cfg.Authorize == nil {
		panic("tenants: Middleware needs MiddlewareConfig.Authorize: the application must decide which " +
			"authenticated requests may act for which tenant; the tenant id of a request is not proof of anything")
	}
	header := cmp.Or(cfg.Header, DefaultTenantHeader)
	logger := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if cfg.PathValue != "" {
			id = r.PathValue(cfg.PathValue)
		}
		if id == "" {
			id = r.Header.Get(header)
		}
		if id == "" {
			http.Error(w, "missing tenant id", http.StatusBadRequest)
			return
		}
		if err := ValidateID(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := cfg.Authorize(r, id); err != nil {
			logger.InfoContext(r.Context(), "tenant access refused", slog.String("tenant", id),
				slog.String("method", r.Method), slog.String("path", r.URL.Path))
			http.Error(w, "not allowed to act for this tenant", http.StatusForbidden)
			return
		}
		route, err := cfg.Resolver.Resolve(r.Context(), id)
		switch {
		case errors.Is(err, ErrTenantNotFound):
			http.Error(w, "unknown tenant", http.StatusNotFound)
			return
		case errors.Is(err, ErrTenantNotActive):
			http.Error(w, "tenant not active", http.StatusForbidden)
			return
		case err != nil:
			logger.ErrorContext(r.Context(), "resolve tenant failed", slog.String("tenant", id), slog.Any("error", err))
			w.Header().Set("Retry-After", "1")
			http.Error(w, "tenant routing unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithTenant(r.Context(), route)))
	})
}

type tenantKey struct{}

// ContextWithTenant returns a context carrying route, as Middleware does.
func ContextWithTenant(ctx context.Context, route Route) context.Context {
	return context.WithValue(ctx, tenantKey{}, route)
}

// TenantFromContext returns the tenant id Middleware put in ctx.
func TenantFromContext(ctx context.Context) (string, bool) {
	r, ok := ctx.Value(tenantKey{}).(Route)
	return r.TenantID, ok
}

// RouteFromContext returns the route Middleware resolved for the request.
func RouteFromContext(ctx context.Context) (Route, bool) {
	r, ok := ctx.Value(tenantKey{}).(Route)
	return r, ok
}
