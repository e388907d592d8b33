package cost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// ErrNotApplicable refuses to apply a recommendation apply cannot roll
// out: a kind other than create_index and drop_index, or evidence without
// a valid index.
var ErrNotApplicable = errors.New("cost: recommendation cannot be applied")

// Applied is the migration run rolling out a recommendation.
type Applied struct {
	// RecommendationID is the recommendation.
	RecommendationID int64 `json:"recommendation_id"`
	// RunID is the fleet migration run building or dropping the index.
	RunID int64 `json:"run_id"`
	// Statement is the DDL each tenant runs.
	Statement string `json:"statement"`
	// Tenants are the tenants the run builds it for.
	Tenants []string `json:"tenants"`
	// Duplicate is true when the run had been started by an earlier apply
	// (a failed one is retried).
	Duplicate bool `json:"duplicate"`
	// Replica is set instead of the run for add_replica and
	// remove_replica (ApplyReplica).
	Replica *ReplicaApplied `json:"replica,omitempty"`
}

// Apply rolls the open create_index or drop_index recommendation id out
// through the fleet migration runner: one run over the tenants it names,
// each building the index with CREATE INDEX CONCURRENTLY (or dropping it
// with DROP INDEX CONCURRENTLY IF EXISTS) on its own login in its schema,
// throttled and resumable like any run. The DDL is rebuilt from the
// recommendation's evidence (table and columns, or the index's name;
// quoted identifiers), not taken from its statement text. The recommendation stays open, attached
// to the run, until the run finishes: the runner then marks it applied
// with the run's results (or, for a failed run, records them and leaves
// it open). Applying again starts nothing new: a running run is returned,
// a failed one retried.
func Apply(ctx context.Context, store *controlplane.Store, runner *migrate.Runner, id int64, requestedBy string) (Applied, error) {
	rec, err := store.GetRecommendation(ctx, id)
	if err != nil {
		return Applied{}, err
	}
	if rec.Status != controlplane.RecommendationOpen {
		return Applied{}, fmt.Errorf("%w: %d is %s", controlplane.ErrRecommendationNotOpen, id, rec.Status)
	}
	if err := operatorOnly(rec); err != nil {
		return Applied{}, err
	}
	stmt, err := statementOf(rec)
	if err != nil {
		return Applied{}, err
	}
	spec := migrate.Spec{Tenants: rec.Tenants, Statement: stmt, RequestedBy: requestedBy}
	st, err := runner.StartOnce(ctx, applyKey(id, stmt, rec.Tenants), spec)
	if err != nil {
		return Applied{}, err
	}
	if st.Duplicate && (st.Status == migrate.RunFailed || st.Status == migrate.RunStopped) {
		if _, err := runner.Retry(ctx, st.ID); err != nil && !errors.Is(err, migrate.ErrRunNotFinished) {
			return Applied{}, err
		}
	}
	if _, err := store.AttachRecommendationRun(ctx, id, st.ID); err != nil {
		return Applied{}, err
	}
	// The run may have finished before it was attached.
	if err := store.SettleRecommendationsOfRun(ctx, st.ID); err != nil {
		return Applied{}, err
	}
	return Applied{RecommendationID: id, RunID: st.ID, Statement: stmt, Tenants: rec.Tenants, Duplicate: st.Duplicate}, nil
}

// statementOf rebuilds the DDL a recommendation rolls out from its
// evidence, every name a quoted identifier: CREATE INDEX CONCURRENTLY for
// create_index (the table and columns the agent measured), DROP INDEX
// CONCURRENTLY for drop_index (the index's name). The row's statement
// text is not used.
func statementOf(rec controlplane.Recommendation) (string, error) {
	if len(rec.Tenants) == 0 {
		return "", fmt.Errorf("%w: %d names no tenant", ErrNotApplicable, rec.ID)
	}
	var stmt string
	var err error
	switch rec.Kind {
	case KindCreateIndex:
		var ev IndexEvidence
		if err := json.Unmarshal(rec.Evidence, &ev); err != nil {
			return "", fmt.Errorf("%w: %d: evidence: %w", ErrNotApplicable, rec.ID, err)
		}
		if ev.Table == "" || len(ev.Columns) == 0 {
			return "", fmt.Errorf("%w: %d: evidence names no table and columns", ErrNotApplicable, rec.ID)
		}
		stmt, err = migrate.CreateIndexStatement(migrate.IndexBuild{Name: indexName(ev.Table, ev.Columns), Table: ev.Table, Columns: ev.Columns})
	case KindDropIndex:
		var ev DropIndexEvidence
		if err := json.Unmarshal(rec.Evidence, &ev); err != nil {
			return "", fmt.Errorf("%w: %d: evidence: %w", ErrNotApplicable, rec.ID, err)
		}
		if ev.Index == "" {
			return "", fmt.Errorf("%w: %d: evidence names no index to drop", ErrNotApplicable, rec.ID)
		}
		stmt, err = migrate.DropIndexStatement(ev.Index)
	default:
		return "", fmt.Errorf("%w: %d is %s; only %s and %s are applied by the runner (replica kinds: Applier with a Provider)", ErrNotApplicable, rec.ID, rec.Kind, KindCreateIndex, KindDropIndex)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %d: %w", ErrNotApplicable, rec.ID, err)
	}
	return stmt, nil
}

// applyKey is the idempotency key of a recommendation's run: the same
// recommendation, statement and tenants are the same run.
func applyKey(id int64, stmt string, tenantIDs []string) string {
	sum := sha256.Sum256([]byte(stmt + "\x00" + strings.Join(tenantIDs, ",")))
	return fmt.Sprintf("cost-apply:%d:%s", id, hex.EncodeToString(sum[:12]))
}

// Applier is Apply for the REST API (restapi.CostApply) and the CLI.
type Applier struct {
	// Store is the control plane.
	Store *controlplane.Store
	// Runner is the fleet migration runner.
	Runner *migrate.Runner
	// Provider applies add_replica and remove_replica (ApplyReplica);
	// nil refuses them with ErrNotApplicable.
	Provider provider.Provider
}

// Apply is the package's Apply with a's store and runner, or ApplyReplica
// with a's provider for the replica kinds.
func (a Applier) Apply(ctx context.Context, id int64, requestedBy string) (Applied, error) {
	rec, err := a.Store.GetRecommendation(ctx, id)
	if err != nil {
		return Applied{}, err
	}
	if isReplicaKind(rec.Kind) {
		r, err := ApplyReplica(ctx, a.Store, a.Provider, id)
		return Applied{RecommendationID: id, Tenants: rec.Tenants, Replica: &r}, err
	}
	return Apply(ctx, a.Store, a.Runner, id, requestedBy)
}
