package cost

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Recommendation kinds (controlplane.Recommendation.Kind).
const (
	KindCreateIndex     = "create_index"
	KindDropIndex       = "drop_index"
	KindAddReplica      = "add_replica"
	KindRemoveReplica   = "remove_replica"
	KindResize          = "resize"
	KindMoveToDedicated = "move_to_dedicated"
	KindMoveToShared    = "move_to_shared"
)

// Defaults of Config.
const (
	DefaultMinCalls               = 10
	DefaultMaxTenantsPerStatement = 100
)

// Config configures an Analyzer.
type Config struct {
	// Store is the control plane. Required.
	Store *controlplane.Store
	// Sessions opens admin sessions (statistics, catalogs, extensions) and
	// tenant sessions (every EXPLAIN). Required.
	Sessions *sessions.Sessions
	// Fleet is the fleet's name. Required.
	Fleet string
	// Prices is the price table. Default: DefaultClasses, DefaultClass
	// db.m6g.large, storage 0.115 USD per GB-month.
	Prices Prices
	// MinCalls is how often a statement must have run in a tenant over the
	// window to be considered for index advice. Default 10.
	MinCalls int64
	// MaxTenantsPerStatement is how many of the tenants running a
	// statement shape are measured, the largest (by execution time) first.
	// Default 100.
	MaxTenantsPerStatement int
	// DedicatedShare is the part of its shared instance's statement time
	// above which a tenant is advised to move to dedicated; SharedShare the
	// part of its dedicated instance's vCPU time below which it is advised
	// to move to shared (tiers.go). Defaults 0.3 and 0.05.
	DedicatedShare, SharedShare float64
	// MinWindow is the shortest window tier moves and resizes are judged
	// from (sizing.go). Default 1h.
	MinWindow time.Duration
	// Redis, when set, is read for the pool statistics the fleet's
	// processes publish: each tenant's pool waits (poolwaits.go). Default
	// nil: none.
	Redis redis.UniversalClient
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ReplicaReadShare, ReplicaLoad and IdleReplicaCalls tune the replica
	// advice (replicas.go): add_replica when reads are at least
	// ReplicaReadShare of the tenants' time (default 0.7) and the
	// instance's statement time is at least ReplicaLoad of its vCPU time
	// (default 0.5); remove_replica when the tenants ran fewer than
	// IdleReplicaCalls statements on a replica in the window (default 10).
	ReplicaReadShare float64
	ReplicaLoad      float64
	IdleReplicaCalls int64
}

// Analyzer attributes cost and advises. It is safe for concurrent use;
// analyses of one fleet should not overlap (the scheduler enqueues one a
// day with a unique task id).
type Analyzer struct {
	cfg Config
}

// New validates cfg and returns an Analyzer.
func New(cfg Config) (*Analyzer, error) {
	cfg.Prices = cfg.Prices.withDefaults()
	cfg.MinCalls = cmp.Or(cfg.MinCalls, DefaultMinCalls)
	cfg.MaxTenantsPerStatement = cmp.Or(cfg.MaxTenantsPerStatement, DefaultMaxTenantsPerStatement)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.ReplicaReadShare = cmp.Or(cfg.ReplicaReadShare, DefaultReplicaReadShare)
	cfg.ReplicaLoad = cmp.Or(cfg.ReplicaLoad, DefaultReplicaLoad)
	cfg.IdleReplicaCalls = cmp.Or(cfg.IdleReplicaCalls, DefaultIdleReplicaCalls)
	var errs []error
	if cfg.Store == nil || cfg.Sessions == nil || cfg.Fleet == "" {
		errs = append(errs, errors.New("config needs Store, Sessions and Fleet"))
	}
	if cfg.MinCalls < 1 || cfg.MaxTenantsPerStatement < 1 {
		errs = append(errs, errors.New("MinCalls and MaxTenantsPerStatement must be at least 1"))
	}
	if !(cfg.ReplicaReadShare > 0 && cfg.ReplicaReadShare <= 1) || !(cfg.ReplicaLoad > 0) || cfg.IdleReplicaCalls < 1 {
		errs = append(errs, errors.New("ReplicaReadShare must be in (0, 1], ReplicaLoad above 0, IdleReplicaCalls at least 1"))
	}
	errs = append(errs, cfg.Prices.validate(), cfg.adviceDefaults())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	return &Analyzer{cfg: cfg}, nil
}

// Result is what one analysis produced.
type Result struct {
	ReportID        int64
	Report          Report
	Recommendations []controlplane.Recommendation
}

// instanceWindow is an instance with its price and window length.
type instanceWindow struct {
	inst  controlplane.Instance
	class Class
	span  float64 // ms
}

// Analyze reads every ready instance's statements, attributes and prices
// them, advises indexes, and stores the report and the recommendations.
// An instance that cannot be read (down, no pg_stat_statements) fails the
// analysis: a report that silently leaves out an instance would be wrong.
func (a *Analyzer) Analyze(ctx context.Context) (Result, error) {
	insts, err := a.cfg.Store.ListInstances(ctx, controlplane.InstanceFilter{})
	if err != nil {
		return Result{}, err
	}
	placed, err := a.cfg.Store.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantActive})
	if err != nil {
		return Result{}, err
	}
	byInst := map[string][]controlplane.Tenant{}
	for _, t := range placed {
		if t.InstanceID != "" && t.Schema != "" && t.Role != "" {
			byInst[t.InstanceID] = append(byInst[t.InstanceID], t)
		}
	}
	rep := Report{CreatedAt: time.Now().UTC(), Prices: a.cfg.Prices}
	windows := map[string]instanceWindow{}
	var stmts []tenantStatement
	var snaps []func(context.Context, *controlplane.Store) error
	for _, inst := range insts {
		if inst.Status != provider.StatusReady || len(byInst[inst.ID]) == 0 {
			continue
		}
		iu, tus, ss, iw, save, err := a.instance(ctx, inst, byInst[inst.ID])
		if err != nil {
			return Result{}, fmt.Errorf("cost: instance %s: %w", inst.ID, err)
		}
		rep.Instances = append(rep.Instances, iu)
		rep.Tenants = append(rep.Tenants, tus...)
		rep.FleetMonthlyUSD += iu.MonthlyUSD
		rep.Incomplete = rep.Incomplete || iu.Incomplete != ""
		windows[inst.ID] = iw
		stmts = append(stmts, ss...)
		snaps = append(snaps, save)
	}
	sort.Slice(rep.Tenants, func(i, j int) bool { return rep.Tenants[i].TenantID < rep.Tenants[j].TenantID })
	sessions := &tenantSessions{s: a.cfg.Sessions, fleet: a.cfg.Fleet, pools: map[string]*pgxpool.Pool{}}
	defer sessions.close()
	recs, err := a.adviseIndexes(ctx, windows, stmts, sessions)
	if err != nil {
		return Result{}, err
	}
	recs, saveUsage, err := a.adviseIndexUsage(ctx, windows, byInst, stmts, recs, &rep)
	if err != nil {
		return Result{}, err
	}
	snaps = append(snaps, saveUsage)
	tiers, err := a.adviseTiers(rep, windows)
	if err != nil {
		return Result{}, err
	}
	sizing, err := a.adviseSizing(ctx, rep, windows)
	if err != nil {
		return Result{}, err
	}
	recs = append(append(recs, tiers...), sizing...)
	a.addPoolWaits(ctx, &rep)
	replicaRecs, saveReplicaReads, err := a.adviseReplicas(ctx, windows, byInst, stmts)
	if err != nil {
		return Result{}, err
	}
	recs, snaps = append(recs, replicaRecs...), append(snaps, saveReplicaReads)
	res := Result{Report: rep}
	raw, err := json.Marshal(rep)
	if err != nil {
		return Result{}, err
	}
	// The report, the advice and the new snapshots commit together: a
	// failed analysis leaves the previous snapshot, so the next window
	// covers what this one missed.
	err = a.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		if res.ReportID, err = tx.SaveCostReport(ctx, rep.Incomplete, raw); err != nil {
			return err
		}
		for _, r := range recs {
			stored, err := tx.UpsertRecommendation(ctx, r)
			if err != nil {
				return err
			}
			res.Recommendations = append(res.Recommendations, stored)
		}
		for _, save := range snaps {
			if err := save(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	a.cfg.Logger.InfoContext(ctx, "cost analysis done", slog.Int64("report", res.ReportID),
		slog.Int("instances", len(rep.Instances)), slog.Int("recommendations", len(res.Recommendations)),
		slog.Bool("incomplete", rep.Incomplete))
	return res, nil
}

// instance analyses one instance through its admin session: statements,
// attribution, storage, money. save stores the new snapshot.
func (a *Analyzer) instance(ctx context.Context, inst controlplane.Instance, placed []controlplane.Tenant) (
	InstanceUsage, []TenantUsage, []tenantStatement, instanceWindow, func(context.Context, *controlplane.Store) error, error,
) {
	admin, err := a.cfg.Sessions.Admin(ctx, inst)
	if err != nil {
		return InstanceUsage{}, nil, nil, instanceWindow{}, nil, err
	}
	pgss, err := ensureExtensions(ctx, admin)
	if err != nil {
		return InstanceUsage{}, nil, nil, instanceWindow{}, nil, err
	}
	cur, err := readStatements(ctx, admin, pgss)
	if err != nil {
		return InstanceUsage{}, nil, nil, instanceWindow{}, nil, err
	}
	prev, prevCounters, hasPrev, err := a.cfg.Store.LastCostSnapshot(ctx, inst.ID)
	if err != nil {
		return InstanceUsage{}, nil, nil, instanceWindow{}, nil, err
	}
	w := diff(cur, prev, prevCounters, hasPrev)
	oids, err := roleOIDs(ctx, admin, placed)
	if err != nil {
		return InstanceUsage{}, nil, nil, instanceWindow{}, nil, err
	}
	attr := attribute(inst, placed, oids, w)
	storage, dbBytes, err := readStorage(ctx, admin, placed)
	if err != nil {
		return InstanceUsage{}, nil, nil, instanceWindow{}, nil, err
	}
	iu, tus := price(a.cfg.Prices, inst, attr, w, storage, dbBytes, placed)
	_, class := a.cfg.Prices.classOf(inst.ID)
	iw := instanceWindow{inst: inst, class: class, span: float64(w.End.Sub(w.Start).Milliseconds())}
	snap, counters := snapshotOf(inst.ID, cur)
	save := func(ctx context.Context, tx *controlplane.Store) error {
		return tx.SaveCostSnapshot(ctx, snap, counters)
	}
	return iu, tus, attr.statements, iw, save, nil
}

// tenantSessions caches one tenant-login pool per tenant for an analysis.
type tenantSessions struct {
	s     *sessions.Sessions
	fleet string
	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

func (ts *tenantSessions) get(ctx context.Context, inst controlplane.Instance, t controlplane.Tenant) (*pgxpool.Pool, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if p, ok := ts.pools[t.ID]; ok {
		return p, nil
	}
	names, err := tenants.NamesFor(ts.fleet, t.ID)
	if err == nil && (names.Schema != t.Schema || names.Role != t.Role) {
		err = fmt.Errorf("cost: tenant %s is recorded with schema %s and role %s, not its own", t.ID, t.Schema, t.Role)
	}
	if err != nil {
		return nil, err
	}
	p, err := ts.s.Tenant(ctx, inst, names, 1)
	if err != nil {
		return nil, err
	}
	ts.pools[t.ID] = p
	return p, nil
}

func (ts *tenantSessions) close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range ts.pools {
		p.Close()
	}
}

// Register mounts the cost:analyze handler on w: the scheduler's daily
// task (queue.CostAnalyzePayload, one per slot).
func (a *Analyzer) Register(w *queue.Worker) {
	w.HandleFunc(queue.TypeCostAnalyze, func(ctx context.Context, t *asynq.Task) error {
		if _, err := queue.Decode[queue.CostAnalyzePayload](t); err != nil {
			return err
		}
		_, err := a.Analyze(ctx)
		return err
	})
}
