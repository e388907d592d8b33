package alertsinks_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/alertsinks"
)

// alertmanagerBinary finds Debian's prometheus-alertmanager (installed by
// .ci/run) or an upstream alertmanager on PATH.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no alertmanager binary: .ci/run installs Debian's prometheus-alertmanager (apt-get install prometheus-alertmanager)")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs a private Alertmanager on a free port with its
// own config and storage, notifying receiver by webhook, and returns its
// base URL.
func startAlertmanager(t *testing.T, receiver string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: fleet
  group_by: [alertname, subject]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fleet
    webhook_configs:
      - url: %s
        send_resolved: true
`, receiver)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(alertmanagerBinary(t), "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--cluster.listen-address=",
		"--log.level=warn")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager at %s not ready: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gettableAlert is the part of Alertmanager's GET /api/v2/alerts we read.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, base string) []gettableAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// amNotification is the part of Alertmanager's webhook we read.
type amNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// The real Alertmanager receives the alert firing, keeps it firing past
// one endsAt because the fleet re-sends it, routes it to its receiver, and
// resolves it when the fleet does.
func TestAlertmanagerSinkAgainstRealAlertmanager(t *testing.T) {
	t.Parallel()
	receiver := newService(t, http.StatusOK)
	base := startAlertmanager(t, receiver.URL+"/am")
	sink, err := alertsinks.NewAlertmanager(alertsinks.AlertmanagerConfig{URL: base, ResolveAfter: 3 * time.Second, RefreshEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := engineWith(t, sink)
	fired := raise(t, e, incident)
	if _, err := e.Deliver(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	find := func() *gettableAlert {
		for _, a := range amAlerts(t, base) {
			if a.Labels["alertname"] == "instance_down" && a.Labels["subject"] == "inst-1" {
				return &a
			}
		}
		return nil
	}
	got := find()
	if got == nil || got.Status.State != "active" || got.Labels["severity"] != "critical" || got.Labels["fleet"] != "tf" ||
		got.Labels["instance"] != "inst-1" || got.Annotations["summary"] != "inst-1 does not answer" ||
		got.Annotations["affected_tenants"] != "acme,globex" || got.StartsAt.Sub(fired.StartedAt).Abs() > time.Millisecond {
		t.Fatalf("alertmanager holds %+v, want the firing instance_down", got)
	}
	firstEnds := got.EndsAt
	// Past the first endsAt, the refreshes keep it firing.
	until := firstEnds.Add(time.Second)
	for time.Now().Before(until) {
		if _, err := e.Deliver(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got = find()
	if got == nil || got.Status.State != "active" || !got.EndsAt.After(firstEnds) {
		t.Fatalf("after the first endsAt alertmanager holds %+v, want it still active with a later endsAt", got)
	}
	clear(t, e, incident)
	if _, err := e.Deliver(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := find(); got != nil {
		t.Fatalf("after the resolve alertmanager still lists %+v", got)
	}
	// Alertmanager's own routing told its receiver: firing, then resolved.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var states []string
		for _, r := range receiver.requests() {
			var n amNotification
			if err := json.Unmarshal(r.body, &n); err == nil && len(n.Alerts) > 0 && n.Alerts[0].Labels["subject"] == "inst-1" {
				states = append(states, n.Status)
			}
		}
		if len(states) >= 2 && states[0] == "firing" && states[len(states)-1] == "resolved" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager's receiver got %v, want firing then resolved", states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
