package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// instanceTTL is how long the runner reuses an instance's catalog row.
const instanceTTL = 30 * time.Second

// Runner starts fleet migration runs, reports on them, and (registered on a
// worker) migrates their tenants. One Runner per process serves both the
// API/CLI side and the worker side. It is safe for concurrent use.
type Runner struct {
	cfg Config
	log *slog.Logger
	// store is the control plane: the catalog, the runs and their tenants.
	store    *controlplane.Store
	sem      *semaphore
	chains   *chains
	throttle *throttle
	// inspector reads tasks for the reconciler; it shares cfg.Redis.
	inspector *asynq.Inspector

	mu        sync.Mutex
	instances map[string]cachedInstance
}

type cachedInstance struct {
	inst controlplane.Instance
	at   time.Time
}

// New validates cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	store := controlplane.NewStore(cfg.DB)
	return &Runner{
		cfg:       cfg,
		log:       cfg.Logger.With(slog.String("agent", "migrate")),
		store:     store,
		sem:       newSemaphore(cfg.Redis, cfg.Fleet, cfg.LeaseTTL),
		chains:    newChains(cfg.Redis, cfg.Fleet),
		throttle:  newThrottle(cfg.Load, cfg.LoadTTL, cfg.StaleReading, newReplicaLags(store, cfg.Sessions, cfg.LoadTTL)),
		inspector: asynq.NewInspectorFromRedisClient(cfg.Redis),
		instances: map[string]cachedInstance{},
	}, nil
}

// Register mounts the migrate:tenant and migrate:reconcile handlers on w.
func (r *Runner) Register(w *queue.Worker) {
	w.HandleFunc(queue.TypeMigrateTenant, r.handle)
	r.reconcilePass().Register(w)
}

// instance returns the instance's catalog row, cached for a while.
func (r *Runner) instance(ctx context.Context, id string) (controlplane.Instance, error) {
	r.mu.Lock()
	c, ok := r.instances[id]
	r.mu.Unlock()
	if ok && time.Since(c.at) < instanceTTL {
		return c.inst, nil
	}
	inst, err := r.store.GetInstance(ctx, id)
	if err != nil {
		return controlplane.Instance{}, err
	}
	r.mu.Lock()
	r.instances[id] = cachedInstance{inst: inst, at: time.Now()}
	r.mu.Unlock()
	return inst, nil
}

// hopRetention is how long a finished hand-over task keeps its id. Its
// predecessor can only re-run (and enqueue it again) until Asynq recovers
// the predecessor from a dead worker, about a minute and a half; a paused
// tenant hands over every few seconds, so a day of ids would pile up.
const hopRetention = 5 * time.Minute

// enqueue puts one tenant task on the queue under id, after delay. A task
// already there with that id is not an error (the result says Duplicate).
// First tasks keep their id for queue.DefaultRetention, hand-overs for
// hopRetention. The caller has made id the tenant's chain head.
func (r *Runner) enqueue(ctx context.Context, runID int64, tenantID, id string, delay time.Duration) (queue.Enqueued, error) {
	retention := queue.DefaultRetention
	if strings.Contains(id, ":h") {
		retention = hopRetention
	}
	opts := []asynq.Option{
		asynq.Queue(r.cfg.QueueName),
		asynq.TaskID(id),
		asynq.MaxRetry(r.cfg.MaxTaskRetry),
		asynq.Timeout(r.cfg.TaskTimeout),
		asynq.Retention(retention),
	}
	if delay > 0 {
		opts = append(opts, asynq.ProcessIn(delay))
	}
	task, err := queue.NewTask(queue.TypeMigrateTenant, queue.MigratePayload{RunID: runID, TenantID: tenantID})
	if err != nil {
		return queue.Enqueued{}, err
	}
	res, err := r.cfg.Queue.Enqueue(ctx, task, opts...)
	if err != nil {
		return res, fmt.Errorf("migrate: run %d tenant %s: %w", runID, tenantID, err)
	}
	return res, nil
}

// queued is a tenant whose task is to be enqueued, in its round.
type queued = controlplane.MigrationTenantRound

// chainStart says how the first task of a new chain takes its tenant.
type chainStart int

const (
	// joinChain takes the tenant only when no chain holds it or this very
	// task already heads it: a start that is repeated (a promotion re-run
	// after a crash, a repeated idempotent request) enqueues nothing new.
	joinChain chainStart = iota
	// replaceChain takes the tenant from whatever chain holds it (Retry,
	// Resume); the old chain ends at its next hand-over.
	replaceChain
)

// startChain makes id the tenant's chain head as mode says, then enqueues
// it. It reports whether the task was enqueued (false: another chain holds
// the tenant, or the task was there already).
func (r *Runner) startChain(ctx context.Context, runID int64, tenantID, id string, mode chainStart) (bool, error) {
	if mode == replaceChain {
		if err := r.chains.replace(ctx, runID, tenantID, id); err != nil {
			return false, err
		}
	} else if ok, err := r.chains.claim(ctx, runID, tenantID, id, ""); err != nil || !ok {
		return false, err
	}
	res, err := r.enqueue(ctx, runID, tenantID, id, 0)
	return err == nil && !res.Duplicate, err
}

// enqueueAll starts the chains of tenants, a few at a time.
func (r *Runner) enqueueAll(ctx context.Context, runID int64, list []queued, resume int, mode chainStart) error {
	const parallel = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan queued)
	for range parallel {
		wg.Go(func() {
			for q := range next {
				if _, err := r.startChain(ctx, runID, q.TenantID, taskID(runID, q.TenantID, q.Round, resume), mode); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, q := range list {
		select {
		case next <- q:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return fmt.Errorf("migrate: enqueue run %d: %w", runID, ctx.Err())
	}
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
