package migrate_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
)

// tracedSteps records, inside each transactional migration, when it began
// (the transaction start) and when it ended, in public.mig_trace. A
// migration killed half-way rolls its row back with the rest of it.
var tracedSteps = sqlSet(map[string]string{
	"00001_widgets.sql": `-- +goose Up
CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL);
SELECT pg_sleep(0.02);
INSERT INTO public.mig_trace VALUES (current_schema(), 1, now(), clock_timestamp());
-- +goose Down
DROP TABLE widgets;
`,
	"00002_gadgets.sql": `-- +goose Up
CREATE TABLE gadgets (id bigserial PRIMARY KEY, widget_id bigint REFERENCES widgets);
SELECT pg_sleep(0.05);
INSERT INTO public.mig_trace VALUES (current_schema(), 2, now(), clock_timestamp());
-- +goose Down
DROP TABLE gadgets;
`,
	"00003_widgets_status.sql": `-- +goose Up
ALTER TABLE widgets ADD COLUMN status text NOT NULL DEFAULT 'new';
SELECT pg_sleep(0.02);
INSERT INTO public.mig_trace VALUES (current_schema(), 3, now(), clock_timestamp());
-- +goose Down
ALTER TABLE widgets DROP COLUMN status;
`,
})

// createTrace creates public.mig_trace in the instance database, writable
// by every tenant role.
func (e *env) createTrace(t testing.TB, inst instance) {
	t.Helper()
	_, err := e.instancePool(t, inst).Exec(testContext(t), `CREATE TABLE public.mig_trace
		(schema text NOT NULL, version bigint NOT NULL, started timestamptz NOT NULL, ended timestamptz NOT NULL);
		GRANT INSERT ON public.mig_trace TO PUBLIC`)
	if err != nil {
		t.Fatalf("create trace table: %v", err)
	}
}

type span struct {
	Schema         string
	Version        int64
	Started, Ended time.Time
}

func (e *env) trace(t testing.TB, inst instance) []span {
	t.Helper()
	rows, err := e.instancePool(t, inst).Query(testContext(t), `SELECT schema, version, started, ended FROM public.mig_trace`)
	if err != nil {
		t.Fatalf("read trace: %v", err)
	}
	spans, err := pgx.CollectRows(rows, pgx.RowToStructByPos[span])
	if err != nil {
		t.Fatalf("read trace: %v", err)
	}
	return spans
}

// maxOverlap is the largest number of spans in progress at one instant.
func maxOverlap(spans []span) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, s := range spans {
		edges = append(edges, edge{s.Started, 1}, edge{s.Ended, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // ends before starts at the same instant
	})
	cur, top := 0, 0
	for _, e := range edges {
		cur += e.delta
		top = max(top, cur)
	}
	return top
}

// TestConcurrencyCapHoldsAcrossWorkers runs one instance's tenants on two
// runners (two processes' worth of semaphore state) with 16 task slots
// between them, and observes in the database, from the migrations' own
// timestamps, that no more than the cap ever ran at once. A second instance
// proceeds independently.
func TestConcurrencyCapHoldsAcrossWorkers(t *testing.T) {
	t.Parallel()
	const limit = 3
	e := setup(t, options{fsys: tracedSteps})
	a := e.addInstance(t, "ia", 24, "", "", 0)
	b := e.addInstance(t, "ib", 12, "", "", 0)
	e.createTrace(t, a)
	e.createTrace(t, b)
	e.startWorker(t, e.runner, 8)
	e.startWorker(t, e.newRunner(t, options{}), 8)

	id, err := e.runner.Start(testContext(t), migrate.Spec{Concurrency: limit})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := e.wait(t, id); st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", st.Status, st.Counts)
	}
	for _, in := range []instance{a, b} {
		spans := e.trace(t, in)
		if got, want := len(spans), 3*len(in.tenants); got != want {
			t.Fatalf("instance %s: got %d migrations traced, want %d", in.id, got, want)
		}
		got := maxOverlap(spans)
		t.Logf("instance %s: at most %d migrations at once (cap %d)", in.id, got, limit)
		if got > limit {
			t.Errorf("instance %s: %d migrations ran at once, cap is %d", in.id, got, limit)
		}
		if got < 2 {
			t.Errorf("instance %s: migrations never overlapped (max %d): the run is not parallel", in.id, got)
		}
	}
	// Both instances ran side by side: their tenants' spans overlap.
	if got := maxOverlap(append(e.trace(t, a), e.trace(t, b)...)); got <= limit {
		t.Errorf("two instances: at most %d at once, want more than one instance's cap %d", got, limit)
	}
}
