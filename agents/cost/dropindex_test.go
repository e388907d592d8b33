package cost_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

func dropEvidenceOf(t testing.TB, r controlplane.Recommendation) cost.DropIndexEvidence {
	t.Helper()
	var ev cost.DropIndexEvidence
	if err := json.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatalf("evidence of %d: %v", r.ID, err)
	}
	return ev
}

// dropsByIndex maps the drop_index advice by index name.
func dropsByIndex(t testing.TB, recs []controlplane.Recommendation) map[string]controlplane.Recommendation {
	t.Helper()
	out := map[string]controlplane.Recommendation{}
	for _, r := range ofKind(recs, cost.KindDropIndex) {
		ev := dropEvidenceOf(t, r)
		if _, dup := out[ev.Index]; dup {
			t.Fatalf("two drop_index recommendations for %s", ev.Index)
		}
		out[ev.Index] = r
	}
	return out
}

func tenantIDs(ts []controlplane.Tenant) []string {
	var ids []string
	for _, tn := range ts {
		ids = append(ids, tn.ID)
	}
	return ids
}

// An index no tenant but one scans over the window is one drop_index
// naming the tenants that do not use it, with its storage and write cost
// and the evidence; an index most tenants use is not advised; primary key,
// unique and constraint indexes never are. The first analysis counts since
// the statistics reset and says so; the second counts its window, and an
// index created during it is not judged.
func TestUnusedIndexIsAdvisedForTheTenantsNotUsingIt(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "u", 4, 2000)
	db := e.admin(t, e.inst(t, "u").Database)
	for _, tn := range ts {
		cptest.AsTenant(t, db, tn.Role, tn.Schema, `CREATE INDEX orders_created_idx ON orders (created_at);
			CREATE INDEX orders_note_idx ON orders (note);
			CREATE UNIQUE INDEX orders_id_note_key ON orders (id, note);
			ALTER TABLE orders ADD CONSTRAINT orders_id_created_uq UNIQUE (id, created_at)`)
	}
	user := ts[3]
	e.runAsTenant(t, user, 20, `SELECT id FROM orders WHERE created_at = $1`, "2020-01-01")
	for _, tn := range ts[:3] {
		e.runAsTenant(t, tn, 20, `SELECT id FROM orders WHERE note = $1`, "nope")
	}
	e.waitForStats(t, db, "index scans reported", `(SELECT count(*) FROM pg_stat_user_indexes WHERE idx_scan > 0 AND
		indexrelname IN ('orders_created_idx', 'orders_note_idx')) = 4`)

	drops := dropsByIndex(t, e.analyze(t).Recommendations)
	unused, ok := drops["orders_created_idx"]
	if !ok {
		t.Fatalf("no drop_index for orders_created_idx: %v", drops)
	}
	if want := tenantIDs(ts[:3]); !slices.Equal(unused.Tenants, want) {
		t.Errorf("tenants %v, want %v (not %s, which uses it)", unused.Tenants, want, user.ID)
	}
	if unused.Statement != `DROP INDEX CONCURRENTLY IF EXISTS "orders_created_idx"` || unused.Status != controlplane.RecommendationOpen {
		t.Errorf("statement %q status %s", unused.Statement, unused.Status)
	}
	ev := dropEvidenceOf(t, unused)
	if ev.Table != "orders" || ev.Definition != "USING btree (created_at)" || ev.TenantsWithIndex != 4 || ev.UnusedTenants != 3 || len(ev.Tenants) != 3 {
		t.Errorf("evidence %+v", ev)
	}
	var sum float64
	for _, te := range ev.Tenants {
		if te.Index != "orders_created_idx" || te.Reason != cost.DropUnused || te.IdxScan != 0 || te.SizeBytes <= 0 ||
			te.TableWrites < 2000 || !(te.StorageUSD > 0) || !(te.WriteUSD > 0) || !strings.Contains(te.Window, "first analysis") {
			t.Errorf("tenant evidence %+v", te)
		}
		sum += te.SavingUSD
	}
	if !(unused.MonthlySavingUSD > 0) || unused.MonthlySavingUSD != sum {
		t.Errorf("monthly saving %g, want the tenants' %g", unused.MonthlySavingUSD, sum)
	}
	for _, name := range []string{"orders_note_idx", "orders_pkey", "orders_id_note_key", "orders_id_created_uq"} {
		if r, ok := drops[name]; ok {
			t.Errorf("%s advised: %+v", name, r)
		}
	}

	// The second window: the same use; an index created during it is too
	// young to judge.
	e.runAsTenant(t, ts[0], 1, `CREATE INDEX orders_late_idx ON orders (status)`)
	e.runAsTenant(t, user, 20, `SELECT id FROM orders WHERE created_at = $1`, "2020-01-02")
	e.waitForStats(t, db, "index scans reported", `(SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = $1
		AND indexrelname = 'orders_created_idx') >= 40`, user.Schema)
	drops = dropsByIndex(t, e.analyze(t).Recommendations)
	again, ok := drops["orders_created_idx"]
	if !ok || again.ID != unused.ID || !slices.Equal(again.Tenants, unused.Tenants) {
		t.Fatalf("second analysis: %+v, want recommendation %d again", again, unused.ID)
	}
	for _, te := range dropEvidenceOf(t, again).Tenants {
		if !strings.Contains(te.Window, "since the previous analysis") || te.TableWrites != 0 || te.WriteUSD != 0 {
			t.Errorf("second window evidence %+v: want the window since the first analysis, without writes", te)
		}
	}
	if r, ok := drops["orders_late_idx"]; ok {
		t.Errorf("an index created during the window was advised: %+v", r)
	}
}

// A btree index whose key begins another's (or repeats it) is a duplicate:
// drop_index names its covering index, whichever tenant uses what; the
// covering index itself, primary keys and unique indexes are never
// advised, and an index with another predicate or ordering is not a
// duplicate.
func TestDuplicateIndexIsAdvisedWithItsCoveringIndex(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "d", 2, 1000)
	db := e.admin(t, e.inst(t, "d").Database)
	for _, tn := range ts {
		cptest.AsTenant(t, db, tn.Role, tn.Schema, `CREATE INDEX orders_customer_idx ON orders (customer_id);
			CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at);
			CREATE INDEX orders_status_a ON orders (status);
			CREATE INDEX orders_status_b ON orders (status);
			CREATE INDEX orders_id_idx ON orders (id);
			CREATE UNIQUE INDEX orders_id_note_key ON orders (id, note);
			CREATE INDEX orders_open_idx ON orders (customer_id) WHERE status = 'open';
			CREATE INDEX orders_customer_desc_idx ON orders (customer_id DESC)`)
	}
	drops := dropsByIndex(t, e.analyze(t).Recommendations)
	for name, cover := range map[string]string{
		"orders_customer_idx": "orders_customer_created_idx",
		"orders_status_b":     "orders_status_a",
		"orders_id_idx":       "orders_pkey",
	} {
		r, ok := drops[name]
		if !ok {
			t.Errorf("no drop_index for %s", name)
			continue
		}
		if !slices.Equal(r.Tenants, tenantIDs(ts)) {
			t.Errorf("%s: tenants %v", name, r.Tenants)
		}
		for _, te := range dropEvidenceOf(t, r).Tenants {
			if te.Reason != cost.DropDuplicate || te.CoveredBy != cover || te.CoveredByDefinition == "" {
				t.Errorf("%s in %s: %+v, want a duplicate covered by %s", name, te.TenantID, te, cover)
			}
		}
	}
	for _, name := range []string{"orders_customer_created_idx", "orders_status_a", "orders_pkey", "orders_id_note_key"} {
		if r, ok := drops[name]; ok {
			t.Errorf("%s advised: %s", name, r.Evidence)
		}
	}
	// Unused (the first window counts since the reset) but covered by
	// nothing.
	for _, name := range []string{"orders_open_idx", "orders_customer_desc_idx"} {
		for _, te := range dropEvidenceOf(t, drops[name]).Tenants {
			if te.Reason != cost.DropUnused || te.CoveredBy != "" {
				t.Errorf("%s in %s: %+v, want unused and covered by nothing", name, te.TenantID, te)
			}
		}
	}
}
