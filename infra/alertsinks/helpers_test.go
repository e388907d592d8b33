package alertsinks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// request is one request the fake service received.
type request struct {
	at     time.Time
	method string
	path   string
	header http.Header
	body   []byte
}

// service is a local stand-in for a sink's service: it records every
// request and answers from a script (status, headers), then 200.
type service struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	script []func(w http.ResponseWriter)
}

func newService(t *testing.T, ok int, script ...func(w http.ResponseWriter)) *service {
	t.Helper()
	s := &service{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, request{at: time.Now(), method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		var answer func(w http.ResponseWriter)
		if len(s.script) > 0 {
			answer, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		w.WriteHeader(ok)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *service) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.got...)
}

func status(code int, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"status":"error"}`)
	}
}

// engineWith runs the alert engine on a scratch control plane with sink.
func engineWith(t *testing.T, sink alerts.Sink) *alerts.Engine {
	t.Helper()
	_, pool := cptest.Database(t)
	e, err := alerts.New(alerts.Config{
		Store: controlplane.NewStore(pool), Sinks: []alerts.Sink{sink}, Fleet: "tf",
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Logger: cptest.DiscardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// deliverUntil runs delivery passes until the service holds n requests.
func deliverUntil(t *testing.T, e *alerts.Engine, s *service, n int) []request {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(s.requests()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the service got %d requests, want %d", len(s.requests()), n)
		}
		if _, err := e.Deliver(ctxT(t)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s.requests()
}

var incident = alerts.Condition{
	Kind: alerts.InstanceDown, Subject: "inst-1", Instance: "inst-1", Summary: "inst-1 does not answer",
	Details: map[string]any{"error": "connection refused"}, Affected: []string{"acme", "globex"},
}

func raise(t *testing.T, e *alerts.Engine, c alerts.Condition) alerts.Alert {
	t.Helper()
	out, err := e.Raise(ctxT(t), c)
	if err != nil || out.Notified != alerts.EventTrigger {
		t.Fatalf("Raise: %+v, %v", out, err)
	}
	return out.Alert
}

func clear(t *testing.T, e *alerts.Engine, c alerts.Condition) alerts.Alert {
	t.Helper()
	out, err := e.Clear(ctxT(t), c.Kind, c.Subject)
	if err != nil || out.Notified != alerts.EventResolve {
		t.Fatalf("Clear: %+v, %v", out, err)
	}
	return out.Alert
}

// decode unmarshals a JSON body into a generic value for comparison.
func decode(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	return v
}

func ts(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }
