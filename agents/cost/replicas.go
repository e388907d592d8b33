package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// Defaults of the replica advice (Config.ReplicaReadShare,
// Config.ReplicaLoad, Config.IdleReplicaCalls).
const (
	DefaultReplicaReadShare = 0.7
	DefaultReplicaLoad      = 0.5
	DefaultIdleReplicaCalls = 10
)

// ReplicaEvidence is the evidence of an add_replica or remove_replica
// recommendation.
type ReplicaEvidence struct {
	// InstanceID is the instance; ReplicaID the replica to create
	// (add_replica) or remove (remove_replica).
	InstanceID string `json:"instance_id"`
	ReplicaID  string `json:"replica_id"`
	// WindowMS is the analysis window.
	WindowMS float64 `json:"window_ms"`
	// ReadMS and WriteMS are the tenants' statement execution time on the
	// instance in the window, split by statement kind; ReadShare is
	// ReadMS over both (add_replica).
	ReadMS    float64 `json:"read_ms,omitempty"`
	WriteMS   float64 `json:"write_ms,omitempty"`
	ReadShare float64 `json:"read_share,omitempty"`
	// Load is the instance's statement time over its vCPU time in the
	// window, 0 to vCPUs (add_replica).
	Load float64 `json:"load,omitempty"`
	// ReplicaCalls are the tenants' statement calls on the replica in the
	// window (remove_replica).
	ReplicaCalls int64 `json:"replica_calls"`
	// ReplicaMonthlyUSD is the replica's price a month.
	ReplicaMonthlyUSD float64 `json:"replica_monthly_usd"`
}

// replicaMonthlyUSD is the price of one replica of an instance of class c.
func (p Prices) replicaMonthlyUSD(c Class) float64 {
	if p.ReplicaHourlyUSD > 0 {
		return p.ReplicaHourlyUSD * HoursPerMonth
	}
	return c.computeMonthlyUSD()
}

// readStatement reports whether a normalized statement only reads: a
// SELECT (not FOR UPDATE/SHARE), TABLE, VALUES or SHOW, or a WITH whose
// text modifies nothing.
func readStatement(q string) bool {
	s := strings.ToLower(strings.TrimSpace(q))
	first, _, _ := strings.Cut(s, " ")
	first = strings.TrimRight(first, "(;")
	switch first {
	case "select", "table", "values", "show":
		return !strings.Contains(s, " for update") && !strings.Contains(s, " for share") &&
			!strings.Contains(s, " for no key update") && !strings.Contains(s, " for key share") && !strings.Contains(s, " into ")
	case "with":
		for _, w := range []string{"insert ", "update ", "delete ", "merge "} {
			if strings.Contains(s, w) {
				return false
			}
		}
		return true
	}
	return false
}

// replicaIDFor names the replica add_replica creates for instance id: the
// id with "-r1", shortened to stay a valid instance id.
func replicaIDFor(id string) string {
	const suffix = "-r1"
	if len(id)+len(suffix) > 40 {
		id = strings.TrimRight(id[:40-len(suffix)], "-")
	}
	return id + suffix
}

// adviseReplicas advises add_replica for an instance with no replica whose
// tenants' time is mostly reads while it is loaded, and remove_replica for
// a ready catalog replica the tenants ran (almost) nothing on over the
// window. save stores the replicas' read counters for the next window.
func (a *Analyzer) adviseReplicas(ctx context.Context, windows map[string]instanceWindow, placed map[string][]controlplane.Tenant,
	stmts []tenantStatement) ([]controlplane.Recommendation, func(context.Context, *controlplane.Store) error, error) {
	readMS, writeMS := map[string]float64{}, map[string]float64{}
	readers := map[string]map[string]bool{}
	for _, s := range stmts {
		id := s.Tenant.InstanceID
		if readStatement(s.Query) {
			readMS[id] += s.ExecMS
			if readers[id] == nil {
				readers[id] = map[string]bool{}
			}
			readers[id][s.Tenant.ID] = true
		} else {
			writeMS[id] += s.ExecMS
		}
	}
	var recs []controlplane.Recommendation
	type reads struct {
		id    string
		calls int64
	}
	var saves []reads
	now := time.Now().UTC()
	ids := make([]string, 0, len(windows))
	for id := range windows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w := windows[id]
		reps, err := a.cfg.Store.ListReplicas(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		price := a.cfg.Prices.replicaMonthlyUSD(w.class)
		compute := w.class.computeMonthlyUSD()
		if len(reps) == 0 && w.span > 0 {
			total := readMS[id] + writeMS[id]
			load := total / (w.span * float64(w.class.VCPUs))
			if total > 0 && readMS[id]/total >= a.cfg.ReplicaReadShare && load >= a.cfg.ReplicaLoad {
				ev := ReplicaEvidence{InstanceID: id, ReplicaID: replicaIDFor(id), WindowMS: w.span, ReadMS: readMS[id],
					WriteMS: writeMS[id], ReadShare: readMS[id] / total, Load: load, ReplicaMonthlyUSD: price}
				recs = append(recs, replicaRec(KindAddReplica, id, sortedKeys(readers[id]), compute, compute+price, -price, ev))
			}
		}
		for _, r := range reps {
			if r.Status != provider.StatusReady {
				continue
			}
			calls, err := a.replicaCalls(ctx, w.inst, r, placed[id])
			if err != nil {
				// A replica that cannot be read gets no advice; the health
				// agent reports it.
				a.cfg.Logger.WarnContext(ctx, "cost: replica not read", slog.String("replica", r.ID), slog.Any("error", err))
				continue
			}
			saves = append(saves, reads{r.ID, calls})
			if r.ReadCalls == nil || r.ReadCallsAt == nil {
				continue // no window yet
			}
			delta := calls - *r.ReadCalls
			if delta < 0 { // the replica's statistics were reset
				delta = calls
			}
			if delta < a.cfg.IdleReplicaCalls {
				ev := ReplicaEvidence{InstanceID: id, ReplicaID: r.ID, WindowMS: float64(now.Sub(*r.ReadCallsAt).Milliseconds()),
					ReplicaCalls: delta, ReplicaMonthlyUSD: price}
				recs = append(recs, replicaRec(KindRemoveReplica, r.ID, tenantIDs(placed[id]), compute+price, compute, price, ev))
			}
		}
	}
	save := func(ctx context.Context, tx *controlplane.Store) error {
		for _, s := range saves {
			if err := tx.SaveReplicaReads(ctx, s.id, s.calls, now); err != nil {
				return err
			}
		}
		return nil
	}
	return recs, save, nil
}

func replicaRec(kind, key string, tenantIDs []string, before, after, saving float64, ev ReplicaEvidence) controlplane.Recommendation {
	raw, _ := json.Marshal(ev) // plain fields: cannot fail
	if tenantIDs == nil {
		tenantIDs = []string{}
	}
	return controlplane.Recommendation{Kind: kind, Key: key, Tenants: tenantIDs, CostBefore: before, CostAfter: after,
		MonthlySavingUSD: saving, Evidence: raw}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func tenantIDs(ts []controlplane.Tenant) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	sort.Strings(out)
	return out
}

// replicaCallsSQL sums the tenants' statement calls on the replica's
// database. %s is pg_stat_statements' schema (replicated from the
// primary, where the analysis created it).
const replicaCallsSQL = `SELECT coalesce(sum(calls), 0)::bigint FROM %s.pg_stat_statements
	WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
	  AND userid::bigint = ANY ($1)`

// replicaCalls reads the tenants' cumulative statement calls on replica r
// through an admin session on it (statistics only).
func (a *Analyzer) replicaCalls(ctx context.Context, inst controlplane.Instance, r controlplane.Replica, placed []controlplane.Tenant) (int64, error) {
	admin, err := a.cfg.Sessions.Admin(ctx, r.On(inst))
	if err != nil {
		return 0, err
	}
	var schema string
	if err := admin.QueryRow(ctx, `SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'`).
		Scan(&schema); err != nil {
		return 0, fmt.Errorf("%w: on replica %s: %w", ErrNoStatStatements, r.ID, err)
	}
	oids, err := roleOIDs(ctx, admin, placed)
	if err != nil {
		return 0, err
	}
	list := make([]int64, 0, len(oids))
	for oid := range oids {
		list = append(list, oid)
	}
	var calls int64
	if err := admin.QueryRow(ctx, fmt.Sprintf(replicaCallsSQL, pgx.Identifier{schema}.Sanitize()), list).Scan(&calls); err != nil {
		return 0, fmt.Errorf("cost: replica %s calls: %w", r.ID, err)
	}
	return calls, nil
}
