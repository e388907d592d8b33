package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// costScore is how an analysis's recommendations match the planted
// problems of `fleetbench cost`.
type costScore struct {
	planted, found int
	missing        []string
	falses         []string
}

// plantedIndexes are the indexes every tenant's schema has (costSchema),
// as a drop_index recommendation's evidence may name them.
var plantedIndexes = []string{"orders_pkey", "orders_ref_idx", "orders_ref_dup_idx", "orders_note_idx"}

// scoreCost matches recommendations to the plan's problems by kind and
// tenant or index:
//
//   - create_index on orders(customer_id) naming only tenants that run the
//     hot query, and every one of them up to maxTenants (the analyzer
//     measures at most that many per statement);
//   - drop_index whose evidence names orders_note_idx (unused);
//   - drop_index whose evidence names orders_ref_dup_idx or
//     orders_ref_idx (the duplicate pair: dropping either one is right);
//   - move_to_dedicated naming the dominant tenant and no other.
//
// Anything else is a false recommendation: another kind, an index on
// other columns, a tenant outside the problem, a drop_index of an index
// in use that has no duplicate (orders_pkey) or of none it names.
func scoreCost(plan costPlan, maxTenants int, recs []controlplane.Recommendation) costScore {
	found := map[string]bool{}
	var falses []string
	hot := 0
	for _, id := range plan.ids {
		if plan.hot[id] {
			hot++
		}
	}
	for _, r := range recs {
		desc := fmt.Sprintf("%d %s %s %v", r.ID, r.Kind, r.Key, r.Tenants)
		switch r.Kind {
		case cost.KindCreateIndex:
			var ev cost.IndexEvidence
			_ = json.Unmarshal(r.Evidence, &ev)
			if ev.Table != "orders" || !slices.Equal(ev.Columns, []string{"customer_id"}) {
				falses = append(falses, desc+": not the planted index")
				continue
			}
			named := 0
			for _, t := range r.Tenants {
				if !plan.hot[t] {
					falses = append(falses, desc+": names "+t+", which does not run the hot query")
					named = -1
					break
				}
				named++
			}
			if named >= min(hot, maxTenants) {
				found[plantedHotQuery] = true
			}
		case cost.KindDropIndex:
			names := indexesNamed(r.Evidence)
			switch {
			case slices.Contains(names, "orders_note_idx"):
				found[plantedUnused] = true
			case slices.Contains(names, "orders_ref_dup_idx") || slices.Contains(names, "orders_ref_idx"):
				found[plantedDuplicate] = true
			default:
				falses = append(falses, desc+fmt.Sprintf(": drops none of the unused or duplicate indexes (names %v)", names))
			}
		case cost.KindMoveToDedicated:
			if slices.Equal(r.Tenants, []string{plan.dominant}) {
				found[plantedDominant] = true
			} else {
				falses = append(falses, desc+": the dominant tenant is "+plan.dominant)
			}
		default:
			falses = append(falses, desc+": nothing of this kind is planted")
		}
	}
	s := costScore{falses: falses}
	for _, p := range []string{plantedHotQuery, plantedUnused, plantedDuplicate, plantedDominant} {
		s.planted++
		if found[p] {
			s.found++
		} else {
			s.missing = append(s.missing, p)
		}
	}
	return s
}

// indexesNamed returns the planted index names that occur as string
// values anywhere in a recommendation's evidence.
func indexesNamed(evidence []byte) []string {
	var v any
	if json.Unmarshal(evidence, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if slices.Contains(plantedIndexes, x) && !slices.Contains(out, x) {
				out = append(out, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	slices.Sort(out)
	return out
}
