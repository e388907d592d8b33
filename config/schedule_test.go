package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScheduleDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Schedule.HealthInterval != time.Minute || c.Schedule.PoolWatchInterval != 10*time.Second || c.Schedule.CostSchedule != DefaultCostSchedule || len(c.Schedule.BatchJobs) != 0 {
		t.Errorf("defaults %+v, want 60s, 10s, %q and no batch overrides", c.Schedule, DefaultCostSchedule)
	}
	env := map[string]string{
		"FLEET_HEALTH_INTERVAL": "1s", "FLEET_POOL_WATCH_INTERVAL": "1s", "FLEET_COST_SCHEDULE": "30 3 * * *",
		"FLEET_BATCH_JOBS": "compliance-snapshot=1h/30m, usage-rollup=2m/30s",
	}
	c, err = Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]BatchTiming{"compliance-snapshot": {time.Hour, 30 * time.Minute}, "usage-rollup": {2 * time.Minute, 30 * time.Second}}
	if c.Schedule.HealthInterval != time.Second || c.Schedule.PoolWatchInterval != time.Second || c.Schedule.CostSchedule != "30 3 * * *" ||
		len(c.Schedule.BatchJobs) != 2 || c.Schedule.BatchJobs["compliance-snapshot"] != want["compliance-snapshot"] || c.Schedule.BatchJobs["usage-rollup"] != want["usage-rollup"] {
		t.Errorf("overrides %+v", c.Schedule)
	}

	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte("health_interval: 5s\nbatch_jobs:\n  compliance-snapshot:\n    period: 24h\n    window: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(func(k string) string { return map[string]string{"FLEET_CONFIG": path}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Schedule.HealthInterval != 5*time.Second || c.Schedule.BatchJobs["compliance-snapshot"] != (BatchTiming{24 * time.Hour, time.Hour}) {
		t.Errorf("from YAML: %+v", c.Schedule)
	}
}

func TestScheduleRejectsBadValues(t *testing.T) {
	t.Parallel()
	for key, value := range map[string]string{
		"FLEET_HEALTH_INTERVAL":     "500ms",
		"FLEET_POOL_WATCH_INTERVAL": "-1s",
		"FLEET_COST_SCHEDULE":       "@every 1h",
	} {
		_, err := Load(func(k string) string { return map[string]string{key: value}[k] })
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: %v, want ErrInvalid naming the variable", key, value, err)
		}
	}
	for _, jobs := range []string{
		"compliance-snapshot",           // no timing
		"compliance-snapshot=1h",        // no window
		"compliance-snapshot=soon/30m",  // not a duration
		"compliance-snapshot=1h/10s",    // a slot under 1s
		"compliance-snapshot=10m/1h",    // window past the period
		"a-job=1h/30m,a-job=2h/30m",     // twice
		"compliance-snapshot=500ms/30s", // period under 1s (and window past it)
	} {
		_, err := Load(func(k string) string { return map[string]string{"FLEET_BATCH_JOBS": jobs}[k] })
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "FLEET_BATCH_JOBS") {
			t.Errorf("FLEET_BATCH_JOBS=%s: %v, want ErrInvalid naming the variable", jobs, err)
		}
	}
}
