package cost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// MinCostDrop is the least fraction of a statement's planner cost an
// index must remove to be recommended (Dexter's rule); a two-column index
// must also remove it from the best single-column one's cost.
const MinCostDrop = 0.5

// indexChoice is the index that halves a statement's cost in one tenant.
type indexChoice struct {
	Table         string
	Columns       []string
	Before, After float64
}

func (c indexChoice) key() string { return c.Table + "(" + strings.Join(c.Columns, ",") + ")" }

// choose plans the statement and tries hypothetical indexes on the tenant's
// own tables it scans sequentially. ok is false when no index halves its
// cost.
func (p *probe) choose(ctx context.Context, query string) (indexChoice, bool, error) {
	plan, err := p.explain(ctx, query)
	if err != nil {
		return indexChoice{}, false, err
	}
	base := plan.TotalCost
	var best indexChoice
	found := false
	for _, sc := range seqScans(plan) {
		if sc.Schema != p.schema {
			continue // never advise on objects outside the tenant's schema
		}
		existing, err := p.btreeIndexes(ctx, sc.Table)
		if err != nil {
			return indexChoice{}, false, err
		}
		singles, pairs := sc.candidates()
		bestSingle, bestSingleCols := math.Inf(1), []string(nil)
		for _, cols := range singles {
			if coveredBy(cols, existing) {
				continue
			}
			c, err := p.costWith(ctx, query, sc.Table, cols)
			if err != nil {
				return indexChoice{}, false, err
			}
			if c < bestSingle {
				bestSingle, bestSingleCols = c, cols
			}
		}
		pick, pickCost := []string(nil), math.Inf(1)
		if bestSingle <= base*(1-MinCostDrop) {
			pick, pickCost = bestSingleCols, bestSingle
		}
		for _, cols := range pairs {
			if coveredBy(cols, existing) {
				continue
			}
			c, err := p.costWith(ctx, query, sc.Table, cols)
			if err != nil {
				return indexChoice{}, false, err
			}
			if c <= base*(1-MinCostDrop) && c <= bestSingle*(1-MinCostDrop) && c < pickCost {
				pick, pickCost = cols, c
			}
		}
		if pick != nil && (!found || pickCost < best.After) {
			best, found = indexChoice{Table: sc.Table, Columns: pick, Before: base, After: pickCost}, true
		}
	}
	return best, found, nil
}

// TenantEvidence is one tenant's measurement behind a create_index
// recommendation.
type TenantEvidence struct {
	TenantID   string  `json:"tenant_id"`
	InstanceID string  `json:"instance_id"`
	Statement  string  `json:"statement"`
	Calls      int64   `json:"calls"`
	ExecMS     float64 `json:"exec_ms"`
	CostBefore float64 `json:"cost_before"`
	CostAfter  float64 `json:"cost_after"`
	// SavedMSPerMonth is the execution time the index would save the
	// tenant a month at the window's rate, if time falls with cost.
	SavedMSPerMonth float64 `json:"saved_ms_per_month"`
	SavingUSD       float64 `json:"monthly_saving_usd"`
}

// IndexEvidence is a create_index recommendation's evidence.
type IndexEvidence struct {
	Table   string           `json:"table"`
	Columns []string         `json:"columns"`
	Tenants []TenantEvidence `json:"tenants"`
	// SavedMSPerMonth sums the tenants'.
	SavedMSPerMonth float64 `json:"saved_ms_per_month"`
	// Unverified counts tenants running the statements beyond
	// MaxTenantsPerStatement, which were not measured and are not named.
	Unverified int `json:"unverified_tenants"`
	// Vetoed are the tenants the index would help but for whom the HOT
	// veto (hotveto.go) stopped it: not named.
	Vetoed []HOTVeto `json:"vetoed,omitempty"`
}

// whitespace collapses runs of white space in statement texts.
var whitespace = regexp.MustCompile(`\s+`)

// shapeOf is the grouping key of a statement across tenants: its
// normalized text with white space collapsed. On PostgreSQL 15 queryid
// hashes relation oids, so the same statement in two tenant schemas has two
// queryids but one text.
func shapeOf(query string) string { return strings.TrimSpace(whitespace.ReplaceAllString(query, " ")) }

// indexName is the deterministic name of the fleet's index on table's
// columns, at most 63 bytes.
func indexName(table string, cols []string) string {
	name := "fleet_" + table + "_" + strings.Join(cols, "_") + "_idx"
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:50] + "_" + hex.EncodeToString(sum[:])[:8] + "_idx"
}

// createIndexStatement is the DDL the runner runs in each tenant's schema
// (migrate.CreateIndexStatement, every name quoted).
func createIndexStatement(c indexChoice) (string, error) {
	return migrate.CreateIndexStatement(migrate.IndexBuild{Name: indexName(c.Table, c.Columns), Table: c.Table, Columns: c.Columns})
}

// adviseIndexes groups the window's statements by shape, measures the hot
// ones on their largest tenants and returns one recommendation per index.
func (a *Analyzer) adviseIndexes(ctx context.Context, insts map[string]instanceWindow, stmts []tenantStatement, sessions *tenantSessions) ([]controlplane.Recommendation, error) {
	groups := map[string][]tenantStatement{}
	for _, s := range stmts {
		if s.Calls < a.cfg.MinCalls {
			continue
		}
		if _, err := plannable(s.Query); err != nil {
			continue
		}
		k := shapeOf(s.Query)
		groups[k] = append(groups[k], s)
	}
	shapes := make([]string, 0, len(groups))
	for k := range groups {
		shapes = append(shapes, k)
	}
	sort.Strings(shapes)
	byIndex := map[string]*IndexEvidence{}
	var errs []error
	for _, shape := range shapes {
		list := groups[shape]
		sort.SliceStable(list, func(i, j int) bool { return list[i].ExecMS > list[j].ExecMS })
		measured := list[:min(len(list), a.cfg.MaxTenantsPerStatement)]
		for _, s := range measured {
			ev, key, ok, err := a.measure(ctx, insts[s.Tenant.InstanceID], s, sessions)
			if err != nil {
				// One tenant's statement that cannot be planned (its own
				// broken objects, a type the generic plan cannot infer)
				// costs only its own advice.
				a.cfg.Logger.WarnContext(ctx, "cost: statement not measured", "tenant", s.Tenant.ID, "error", err)
				errs = append(errs, err)
				continue
			}
			if !ok {
				continue
			}
			e := byIndex[key.key()]
			if e == nil {
				e = &IndexEvidence{Table: key.Table, Columns: key.Columns}
				byIndex[key.key()] = e
			}
			e.Tenants = append(e.Tenants, ev)
			e.SavedMSPerMonth += ev.SavedMSPerMonth
		}
		if extra := len(list) - len(measured); extra > 0 {
			for _, e := range byIndex {
				e.Unverified += extra
			}
		}
	}
	out := make([]controlplane.Recommendation, 0, len(byIndex))
	for _, e := range byIndex {
		stmt, err := createIndexStatement(indexChoice{Table: e.Table, Columns: e.Columns})
		if err != nil {
			return nil, err
		}
		r := controlplane.Recommendation{Kind: KindCreateIndex, Key: indexChoice{Table: e.Table, Columns: e.Columns}.key(), Statement: stmt}
		sort.Slice(e.Tenants, func(i, j int) bool { return e.Tenants[i].TenantID < e.Tenants[j].TenantID })
		for _, t := range e.Tenants {
			if !slices.Contains(r.Tenants, t.TenantID) {
				r.Tenants = append(r.Tenants, t.TenantID)
			}
			r.CostBefore += t.CostBefore
			r.CostAfter += t.CostAfter
			r.MonthlySavingUSD += t.SavingUSD
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		r.Evidence = raw
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("cost: no statement could be measured: %w", errors.Join(errs...))
	}
	return out, nil
}

// measure evaluates one tenant's statement in the tenant's own session.
func (a *Analyzer) measure(ctx context.Context, iw instanceWindow, s tenantStatement, sessions *tenantSessions) (TenantEvidence, indexChoice, bool, error) {
	query, err := plannable(s.Query)
	if err != nil {
		return TenantEvidence{}, indexChoice{}, false, nil
	}
	pool, err := sessions.get(ctx, iw.inst, s.Tenant)
	if err != nil {
		return TenantEvidence{}, indexChoice{}, false, err
	}
	p, err := openProbe(ctx, pool, s.Tenant.Schema)
	if err != nil {
		return TenantEvidence{}, indexChoice{}, false, err
	}
	defer p.close(ctx)
	c, ok, err := p.choose(ctx, query)
	if err != nil || !ok {
		return TenantEvidence{}, c, false, err
	}
	ev := TenantEvidence{TenantID: s.Tenant.ID, InstanceID: iw.inst.ID, Statement: shapeOf(s.Query), Calls: s.Calls,
		ExecMS: s.ExecMS, CostBefore: c.Before, CostAfter: c.After}
	if c.Before > 0 && iw.span > 0 {
		ev.SavedMSPerMonth = s.ExecMS * (1 - c.After/c.Before) * (HoursPerMonth * 3600 * 1000 / iw.span)
	}
	ev.SavingUSD = iw.class.timeMonthlyUSD(ev.SavedMSPerMonth)
	return ev, c, true, nil
}
