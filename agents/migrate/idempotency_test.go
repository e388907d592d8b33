package migrate_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// TestIdempotencyKeyStartsOneRun: POST /api/v1/migrations retried with one
// Idempotency-Key starts one run (also when the retries race, and from
// another process: the key is in the control plane); the same key with
// another body is 422 and starts nothing; a retry after the first call's
// tasks were lost puts them back.
func TestIdempotencyKeyStartsOneRun(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.addInstance(t, "ia", 3, "", "", 0)
	base := startAPI(t, e.runner)
	ctx := testContext(t)
	post := func(body string, header ...string) (int, restapi.MigrationStartedJSON, string) {
		t.Helper()
		code, out := apiCall(t, base, "POST", "/api/v1/migrations", body, append([]string{"Content-Type", "application/json"}, header...)...)
		var resp restapi.MigrationStartedJSON
		if code == http.StatusAccepted {
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Errorf("decode %s: %v", out, err)
			}
		}
		return code, resp, string(out)
	}
	runs := func() int {
		t.Helper()
		var n int
		if err := e.cp.QueryRow(ctx, `SELECT count(*) FROM migration_runs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	code, first, out := post(`{"instance": "ia", "concurrency": 2}`, "Idempotency-Key", "deploy-42")
	if code != http.StatusAccepted || first.ID == 0 || first.Duplicate {
		t.Fatalf("first request: got %d %s, want 202, a new run", code, out)
	}
	// No worker yet: the first call's tasks are lost before anything ran
	// them, as if the API had died between its commit and its enqueue.
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
	// The same request, its fields in another order and a default spelled
	// out: the same run.
	code, again, out := post(`{"concurrency": 2, "cpu_threshold": 70, "instance": "ia"}`, "Idempotency-Key", "deploy-42")
	if code != http.StatusAccepted || again.ID != first.ID || !again.Duplicate || again.Status != "running" {
		t.Fatalf("repeat: got %d %s, want 202 with run %d, duplicate", code, out, first.ID)
	}
	code, _, out = post(`{"instance": "ia", "concurrency": 3}`, "Idempotency-Key", "deploy-42")
	if code != http.StatusUnprocessableEntity || !strings.Contains(out, "different run spec") {
		t.Errorf("same key, other body: got %d %s, want 422", code, out)
	}
	code, _, out = post(`{}`, "Idempotency-Key", strings.Repeat("k", migrate.MaxIdempotencyKey+1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(out, "idempotency key") {
		t.Errorf("key too long: got %d %s, want 422", code, out)
	}
	if n := runs(); n != 1 {
		t.Fatalf("runs after the repeats: got %d, want 1", n)
	}

	// The repeat enqueued the lost tasks: a worker finishes the run.
	e.startWorker(t, e.runner, 3)
	if st := e.wait(t, first.ID); st.Status != migrate.RunSucceeded || st.Counts.Succeeded != 3 {
		t.Fatalf("run: got %s %+v, want 3 tenants succeeded", st.Status, st.Counts)
	}
	code, done, out := post(`{"instance": "ia", "concurrency": 2}`, "Idempotency-Key", "deploy-42")
	if code != http.StatusAccepted || done.ID != first.ID || !done.Duplicate || done.Status != "succeeded" {
		t.Errorf("repeat of a finished run: got %d %s, want 202 with run %d succeeded", code, out, first.ID)
	}

	// Retries racing each other: one run.
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Go(func() {
			code, resp, out := post(`{}`, "Idempotency-Key", "deploy-43")
			if code != http.StatusAccepted {
				t.Errorf("racing request %d: got %d %s", i, code, out)
			}
			ids[i] = resp.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] || id == first.ID {
			t.Errorf("racing request %d: run %d, want %d for all, a new one", i, id, ids[0])
		}
	}
	if n := runs(); n != 2 {
		t.Errorf("runs after the race: got %d, want 2", n)
	}

	// Another process (a restarted API, the CLI) knows the key too.
	other := e.newRunner(t, options{})
	st, err := other.StartOnce(ctx, "deploy-42", migrate.Spec{Instance: "ia", Concurrency: 2, RequestedBy: "someone else"})
	if err != nil || st.ID != first.ID || !st.Duplicate {
		t.Errorf("StartOnce from another runner: got %+v, %v; want run %d, duplicate", st, err, first.ID)
	}
	if _, err := other.StartOnce(ctx, "deploy-42", migrate.Spec{Instance: "ia"}); !errors.Is(err, migrate.ErrIdempotencyKeyReused) {
		t.Errorf("StartOnce with another spec: got %v, want ErrIdempotencyKeyReused", err)
	}
	// Without a key every request is a run of its own.
	for range 2 {
		if code, _, out := post(`{"instance": "ia"}`); code != http.StatusAccepted {
			t.Errorf("no key: got %d %s", code, out)
		}
	}
	if n := runs(); n != 4 {
		t.Errorf("runs after two requests without a key: got %d, want 4", n)
	}
}
