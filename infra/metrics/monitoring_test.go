package metrics_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// monitoringDir holds the shipped alerting rules and Grafana dashboard.
const monitoringDir = "../../docs/monitoring"

// knownSeries are the series the rules and the dashboard may use: those
// fleet processes serve today, and those the health agent will serve
// (names agreed in docs/alerts.md). A rule on a misspelt series would
// never fire, so the test fails on any other name.
var knownSeries = map[string]bool{
	// tenants.Pools.Collector
	"tenantfleet_pool_size": true, "tenantfleet_pool_in_flight": true, "tenantfleet_pool_waiting": true,
	"tenantfleet_pool_exhausted_total": true, "tenantfleet_pool_acquire_wait_seconds": true,
	"tenantfleet_tenant_in_flight": true, "tenantfleet_tenant_waiting": true,
	"tenantfleet_tenant_exhausted_total": true, "tenantfleet_tenant_acquire_wait_seconds": true,
	// tenants.Router, queue.TaskMetrics
	"tenantfleet_route_cache_rejected_total": true, "tenantfleet_tasks_processed_total": true,
	"tenantfleet_task_duration_seconds": true, "tenantfleet_task_panics_total": true,
	// metrics.QueueCollector
	"asynq_tasks_enqueued_total": true, "asynq_queue_size": true, "asynq_queue_latency_seconds": true,
	"asynq_tasks_processed_total": true, "asynq_tasks_failed_total": true, "asynq_queue_paused_total": true, "asynq_up": true,
	// agents/alerts Engine.Collector
	"tenantfleet_alerts_open": true, "tenantfleet_alerts_inhibited": true, "tenantfleet_alert_notifications_pending": true,
	"tenantfleet_alerts_store_up": true, "tenantfleet_alert_deliveries_total": true,
	// the health agent (docs/alerts.md, "Series the health agent serves")
	"tenantfleet_instance_up": true, "tenantfleet_instance_ping_seconds": true, "tenantfleet_instance_connections": true,
	"tenantfleet_instance_max_connections": true, "tenantfleet_instance_replication_lag_seconds": true,
	"tenantfleet_instance_capacity_ratio": true, "tenantfleet_instance_blocked_sessions": true,
	"tenantfleet_tenant_connections": true, "tenantfleet_tenant_xid_age": true,
	"tenantfleet_idle_in_transaction_terminated_total": true,
}

var seriesName = regexp.MustCompile(`\b(?:tenantfleet|asynq)_[a-z0-9_]+\b`)

func checkNames(t *testing.T, where, expr string) {
	t.Helper()
	for _, name := range seriesName.FindAllString(expr, -1) {
		if !knownSeries[name] {
			t.Errorf("%s uses %s, a series no fleet process serves", where, name)
		}
	}
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: .ci/run installs Debian's prometheus (apt-get install prometheus)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = monitoringDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The alerting rules are valid, fire in their unit tests, and name only
// series the fleet serves.
func TestAlertingRules(t *testing.T) {
	promtool(t, "check", "rules", "tenantfleet.rules.yml")
	promtool(t, "test", "rules", "tenantfleet.rules.test.yml")
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "tenantfleet.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			checkNames(t, "tenantfleet.rules.yml:"+itoa(i+1), expr)
		}
	}
}

// The Grafana dashboard is JSON Grafana imports (panels with targets on a
// templated Prometheus datasource) and names only series the fleet serves.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-tenantfleet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard lacks a uid, title or panels")
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: no targets or not on the templated datasource", p.Title)
		}
		for _, target := range p.Targets {
			if strings.Count(target.Expr, "(") != strings.Count(target.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %q", p.Title, target.Expr)
			}
			checkNames(t, "panel "+p.Title, target.Expr)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
