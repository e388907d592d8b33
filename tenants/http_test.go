package tenants

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// countingResolver wraps the real Router and counts resolutions, so a
// test can tell that a refused request looked nothing up.
type countingResolver struct {
	Resolver
	n atomic.Int64
}

func (c *countingResolver) Resolve(ctx context.Context, id string) (Route, error) {
	c.n.Add(1)
	return c.Resolver.Resolve(ctx, id)
}

// testUserHeader names the user the test's "authentication" vouches for.
const testUserHeader = "X-Test-User"

// memberOf is a test Authorize: the user named by testUserHeader may act
// for the tenants members lists for it.
func memberOf(members map[string][]string) Authorize {
	return func(r *http.Request, tenantID string) error {
		for _, t := range members[r.Header.Get(testUserHeader)] {
			if t == tenantID {
				return nil
			}
		}
		return errors.New("user is not a member of the tenant")
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.addTenant(t, "web-shop")
	f.addTenant(t, "bank-two")
	ctx := context.Background()
	if err := f.store.AddTenant(ctx, "not-yet", "x", Shared); err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		id, ok := TenantFromContext(r.Context())
		if !ok {
			t.Error("no tenant in context")
		}
		_, _ = w.Write([]byte(id))
	})
	resolver := &countingResolver{Resolver: f.router}
	authorize := memberOf(map[string][]string{
		"alice": {"web-shop", "nobody", "not-yet"},
		"bob":   {"bank-two"},
	})
	mux := http.NewServeMux()
	mux.Handle("GET /t/{tenant}/hello", Middleware(MiddlewareConfig{Resolver: resolver, Authorize: authorize, PathValue: "tenant"}, app))
	mux.Handle("GET /hello", Middleware(MiddlewareConfig{Resolver: resolver, Authorize: authorize}, app))
	for _, tc := range []struct {
		name               string
		user, path, header string
		want               int
		resolves           bool
	}{
		{"member, header", "alice", "/hello", "web-shop", 200, true},
		{"member, path", "alice", "/t/web-shop/hello", "", 200, true},
		{"no id", "alice", "/hello", "", 400, false},
		{"bad id", "alice", "/hello", "Web_Shop", 400, false},
		{"bad path id", "alice", "/t/x/hello", "", 400, false},
		{"member of an unknown tenant", "alice", "/hello", "nobody", 404, true},
		{"member of an inactive tenant", "alice", "/hello", "not-yet", 403, true},
		// The attacker's path: a header naming someone else's tenant.
		{"another tenant's id in the header", "bob", "/hello", "web-shop", 403, false},
		{"another tenant's id in the path", "bob", "/t/web-shop/hello", "", 403, false},
		{"no user at all", "", "/hello", "web-shop", 403, false},
		{"refused for an unknown tenant: no existence leak", "bob", "/hello", "nobody", 403, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, servedBefore := resolver.n.Load(), served.Load()
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.header != "" {
				req.Header.Set(DefaultTenantHeader, tc.header)
			}
			if tc.user != "" {
				req.Header.Set(testUserHeader, tc.user)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("got %d (%s), want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.want == 200 && rec.Body.String() != "web-shop" {
				t.Errorf("got body %q, want web-shop", rec.Body)
			}
			if resolved := resolver.n.Load() > before; resolved != tc.resolves {
				t.Errorf("resolved the tenant: %v, want %v", resolved, tc.resolves)
			}
			if tc.want != 200 && served.Load() != servedBefore {
				t.Error("the application handler ran for a refused request")
			}
			if tc.want == 403 && !tc.resolves && !strings.Contains(rec.Body.String(), "not allowed") {
				t.Errorf("got body %q, want the refusal", rec.Body)
			}
		})
	}
}

// TestMiddlewareRequiresAuthorize: building the middleware without an
// authorization hook (or a resolver) panics instead of trusting the
// header.
func TestMiddlewareRequiresAuthorize(t *testing.T) {
	t.Parallel()
	next := http.NotFoundHandler()
	resolver := &countingResolver{}
	for name, cfg := range map[string]MiddlewareConfig{
		"no Authorize": {Resolver: resolver},
		"no Resolver":  {Authorize: func(*http.Request, string) error { return nil }},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "MiddlewareConfig.") {
					t.Fatalf("got panic %q, want one naming the missing MiddlewareConfig field", msg)
				}
			}()
			Middleware(cfg, next)
		})
	}
}
