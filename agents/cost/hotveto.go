package cost

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// The HOT veto: an index on a column that a tenant's UPDATE statements set
// makes every such update write a new entry in every index of the table
// (no heap-only tuple), so on a write-hot table the index the planner
// likes costs more than it saves. A create_index candidate is vetoed for
// a tenant when, over the window:
//
//   - the tenant's UPDATE statements of the table (read from the
//     normalized statement texts of pg_stat_statements) set one of its
//     columns at least MinCalls times, and
//   - the table's updates are mostly HOT today: n_tup_hot_upd /
//     n_tup_upd >= HOTVetoMinRatio, and
//   - updates are significant next to reads: n_tup_upd >=
//     HOTVetoMinUpdateShare x (seq_scan + idx_scan) of the table.

// Thresholds of the HOT veto.
const (
	// HOTVetoMinRatio is the least share of the table's updates that are
	// HOT for an index on an updated column to be vetoed (below it the
	// updates already update the indexes).
	HOTVetoMinRatio = 0.5
	// HOTVetoMinUpdateShare is the least ratio of updated rows to the
	// table's scans (the reading statements' visits) for the table to be
	// write-hot.
	HOTVetoMinUpdateShare = 0.1
)

// HOTVeto is a create_index candidate not advised for a tenant because it
// would turn the HOT updates of a write-hot table into index updates.
type HOTVeto struct {
	TenantID   string   `json:"tenant_id"`
	InstanceID string   `json:"instance_id"`
	Table      string   `json:"table"`
	Columns    []string `json:"columns"`
	// Statement is the create_index DDL vetoed.
	Statement string `json:"statement"`
	// UpdatedColumns are the candidate's columns the tenant's UPDATE
	// statements set; UpdateCalls their calls over the window.
	UpdatedColumns []string `json:"updated_columns"`
	UpdateCalls    int64    `json:"update_calls"`
	// Updates, HOTUpdates and Scans are the table's n_tup_upd,
	// n_tup_hot_upd and seq_scan + idx_scan over the window.
	Updates    int64   `json:"n_tup_upd"`
	HOTUpdates int64   `json:"n_tup_hot_upd"`
	Scans      int64   `json:"scans"`
	HOTRatio   float64 `json:"hot_ratio"`
	CostBefore float64 `json:"cost_before"`
	CostAfter  float64 `json:"cost_after"`
	Window     string  `json:"window"`
	Reason     string  `json:"reason"`
}

// vetoHOT removes from each create_index recommendation the tenants for
// whom the index is vetoed, and drops a recommendation left with none.
// The vetoes are returned (for the report) and kept in the evidence of a
// recommendation that still names other tenants.
func (a *Analyzer) vetoHOT(recs []controlplane.Recommendation, usages []instanceUsage, stmts []tenantStatement) ([]controlplane.Recommendation, []HOTVeto, error) {
	byInst := map[string]*instanceUsage{}
	for i := range usages {
		byInst[usages[i].iw.inst.ID] = &usages[i]
	}
	// tenant id -> table -> column -> calls of UPDATE statements setting it.
	sets := map[string]map[string]map[string]int64{}
	for _, s := range stmts {
		table, schema, cols, ok := updateSets(s.Query)
		if !ok || (schema != "" && schema != s.Tenant.Schema) {
			continue
		}
		if sets[s.Tenant.ID] == nil {
			sets[s.Tenant.ID] = map[string]map[string]int64{}
		}
		if sets[s.Tenant.ID][table] == nil {
			sets[s.Tenant.ID][table] = map[string]int64{}
		}
		for _, c := range cols {
			sets[s.Tenant.ID][table][c] += s.Calls
		}
	}
	var all []HOTVeto
	out := make([]controlplane.Recommendation, 0, len(recs))
	for _, r := range recs {
		if r.Kind != KindCreateIndex {
			out = append(out, r)
			continue
		}
		var ev IndexEvidence
		if err := json.Unmarshal(r.Evidence, &ev); err != nil {
			return nil, nil, fmt.Errorf("cost: evidence of %s: %w", r.Key, err)
		}
		var kept []TenantEvidence
		for _, te := range ev.Tenants {
			v, vetoed := a.hotVeto(byInst[te.InstanceID], sets[te.TenantID][ev.Table], ev, te)
			if !vetoed {
				kept = append(kept, te)
				continue
			}
			v.Statement = r.Statement
			ev.Vetoed = append(ev.Vetoed, v)
			all = append(all, v)
		}
		if len(ev.Vetoed) == 0 {
			out = append(out, r)
			continue
		}
		if len(kept) == 0 {
			continue
		}
		ev.Tenants, ev.SavedMSPerMonth = kept, 0
		r.Tenants, r.CostBefore, r.CostAfter, r.MonthlySavingUSD = nil, 0, 0, 0
		for _, te := range kept {
			if !slices.Contains(r.Tenants, te.TenantID) {
				r.Tenants = append(r.Tenants, te.TenantID)
			}
			r.CostBefore += te.CostBefore
			r.CostAfter += te.CostAfter
			r.MonthlySavingUSD += te.SavingUSD
			ev.SavedMSPerMonth += te.SavedMSPerMonth
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, err
		}
		r.Evidence = raw
		out = append(out, r)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].TenantID != all[j].TenantID {
			return all[i].TenantID < all[j].TenantID
		}
		return all[i].Statement < all[j].Statement
	})
	return out, all, nil
}

// hotVeto judges one tenant's index: sets are the calls of the tenant's
// UPDATE statements of the table by column.
func (a *Analyzer) hotVeto(u *instanceUsage, sets map[string]int64, ev IndexEvidence, te TenantEvidence) (HOTVeto, bool) {
	if u == nil {
		return HOTVeto{}, false
	}
	v := HOTVeto{TenantID: te.TenantID, InstanceID: te.InstanceID, Table: ev.Table, Columns: ev.Columns,
		CostBefore: te.CostBefore, CostAfter: te.CostAfter, Window: u.window.Note}
	for _, c := range ev.Columns {
		if n := sets[c]; n > 0 {
			v.UpdatedColumns = append(v.UpdatedColumns, c)
			v.UpdateCalls += n
		}
	}
	if v.UpdateCalls < a.cfg.MinCalls {
		return v, false
	}
	var schema string
	for s, t := range u.bySchema {
		if t.ID == te.TenantID {
			schema = s
		}
	}
	tab := u.window.tables[[2]string{schema, ev.Table}]
	v.Updates, v.HOTUpdates, v.Scans = tab.Updated, tab.HOTUpdated, tab.SeqScan+tab.IdxScan
	if v.Updates == 0 {
		return v, false
	}
	v.HOTRatio = float64(v.HOTUpdates) / float64(v.Updates)
	if v.HOTRatio < HOTVetoMinRatio || float64(v.Updates) < HOTVetoMinUpdateShare*float64(v.Scans) {
		return v, false
	}
	v.Reason = fmt.Sprintf("UPDATE statements set %s (%d calls) on a write-hot table: %d of %d updates were HOT (>= %.0f%%) and %d updated rows against %d scans (>= %.0f%%); the index would make them index updates",
		strings.Join(v.UpdatedColumns, ", "), v.UpdateCalls, v.HOTUpdates, v.Updates, HOTVetoMinRatio*100, v.Updates, v.Scans, HOTVetoMinUpdateShare*100)
	return v, true
}
