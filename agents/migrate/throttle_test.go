package migrate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/load/loadfake"
)

func TestBusyInstancePausesAndResumes(t *testing.T) {
	t.Parallel()
	src := loadfake.NewStatic(load.Reading{CPUPercent: 10})
	src.SetFor("ia", load.Reading{CPUPercent: 95})
	src.SetFor("ib", load.Reading{CPUPercent: 5, ReplicaLag: 30 * time.Second})
	e := setup(t, options{load: src})
	a := e.addInstance(t, "ia", 6, "", "", 0)
	b := e.addInstance(t, "ib", 4, "", "", 0)
	c := e.addInstance(t, "ic", 3, "", "", 0)
	e.startWorker(t, e.runner, 6)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var st migrate.RunStatus
	eventually.True(t, time.Minute, "busy instances' tenants paused, the healthy one's done", func() bool {
		st, err = e.runner.Status(ctx, id)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		return st.Counts.Paused == 10 && st.Counts.Succeeded == 3
	})
	for _, tr := range st.Tenants {
		switch tr.Instance {
		case "ia":
			if tr.Status != migrate.TenantPaused || !strings.Contains(tr.Reason, "CPU 95% above 70%") {
				t.Errorf("tenant %s: got %s %q, want paused on CPU", tr.TenantID, tr.Status, tr.Reason)
			}
		case "ib":
			if tr.Status != migrate.TenantPaused || !strings.Contains(tr.Reason, "replica lag 30s above 10s") {
				t.Errorf("tenant %s: got %s %q, want paused on replica lag", tr.TenantID, tr.Status, tr.Reason)
			}
		}
	}
	// Still paused after the source was read again: nothing migrated.
	for range 2 {
		select {
		case <-src.Called():
		case <-ctx.Done():
			t.Fatal("the runner stopped reading the load source")
		}
	}
	for _, in := range []instance{a, b} {
		for _, tid := range in.tenants {
			if got := e.version(t, in, tid); got != 0 {
				t.Errorf("paused tenant %s: version %d, want 0", tid, got)
			}
		}
	}
	if st, _ := e.runner.Progress(ctx, id); st.Status != migrate.RunRunning {
		t.Errorf("run with paused tenants: got %s, want running", st.Status)
	}

	src.SetFor("ia", load.Reading{CPUPercent: 20})
	src.SetFor("ib", load.Reading{CPUPercent: 20, ReplicaLag: time.Second})
	st = e.wait(t, id)
	if got, want := st.Status, migrate.RunSucceeded; got != want {
		t.Fatalf("run: got %s, want %s", got, want)
	}
	for _, in := range []instance{a, b, c} {
		for _, tid := range in.tenants {
			if got := e.version(t, in, tid); got != 3 {
				t.Errorf("tenant %s: version %d, want 3", tid, got)
			}
		}
	}
}

func TestUnreadableLoadHoldsTenants(t *testing.T) {
	t.Parallel()
	src := loadfake.NewStatic(load.Reading{CPUPercent: 10})
	src.SetErr(load.ErrUnavailable)
	e := setup(t, options{load: src})
	e.addInstance(t, "ia", 2, "", "", 0)
	e.startWorker(t, e.runner, 2)
	ctx := testContext(t)
	id, err := e.runner.Start(ctx, migrate.Spec{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	eventually.True(t, time.Minute, "tenants paused on an unknown load", func() bool {
		st, err := e.runner.Status(ctx, id)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		return st.Counts.Paused == 2 && strings.Contains(st.Tenants[0].Reason, "load unknown")
	})
	src.SetErr(nil)
	if st := e.wait(t, id); st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded", st.Status)
	}
}
