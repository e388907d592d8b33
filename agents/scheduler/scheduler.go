// Package scheduler is the plan of the scheduler role: which periodic tasks
// the fleet enqueues, how often, with which payloads and task ids. It
// registers the fleet-wide entries (a health:sweep per instance, the pool
// watch, the daily cost analysis) on a queue.Scheduler; the agents add
// their own (the outbox reconcilers, agents/batch for tenant batch jobs).
//
// An entry whose task type has no handler in this build of the fleet (the
// health and cost agents are not built yet) still fires but enqueues
// nothing, and says so in `fleet schedule list`: a task without a handler
// would only be retried and archived. Registering the handler on the
// worker is all it takes to switch it on.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/queue"
)

// The entry names. Each prefixes its task ids (queue.PeriodicTaskID):
// "health:sweep:<instance>@<slot>", "pool:watch@<slot>",
// "cost:analyze@<slot>".
const (
	// EntryHealthSweep enqueues one queue.TypeHealthSweep per ready
	// instance.
	EntryHealthSweep = queue.TypeHealthSweep
	// EntryPoolWatch enqueues one queue.TypePoolWatch.
	EntryPoolWatch = queue.TypePoolWatch
	// EntryCostAnalyze enqueues one queue.TypeCostAnalyze.
	EntryCostAnalyze = queue.TypeCostAnalyze
)

// InstanceLister lists the instances to sweep; *controlplane.Store
// implements it.
type InstanceLister interface {
	ListInstances(ctx context.Context, f controlplane.InstanceFilter) ([]controlplane.Instance, error)
}

// Config configures the fleet-wide periodic entries.
type Config struct {
	// Instances lists the instances, each swept every HealthInterval.
	// Required.
	Instances InstanceLister
	// HealthInterval is the period of the health sweeps
	// (FLEET_HEALTH_INTERVAL). Default 60s, at least 1s.
	HealthInterval time.Duration
	// PoolWatchInterval is the period of the pool watch
	// (FLEET_POOL_WATCH_INTERVAL). Default 10s, at least 1s.
	PoolWatchInterval time.Duration
	// CostSchedule is the cron spec (UTC) of the cost analysis
	// (FLEET_COST_SCHEDULE). Default "0 2 * * *": daily at 02:00 UTC.
	CostSchedule string
	// Handles reports whether the fleet's workers have a handler for a
	// task type; entries of the others enqueue nothing. Required.
	Handles func(taskType string) bool
	// Logger receives the entries' logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultCostSchedule is the default CostSchedule.
const DefaultCostSchedule = "0 2 * * *"

func (c *Config) validate() error {
	if c.Instances == nil || c.Handles == nil {
		return errors.New("scheduler: config needs Instances and Handles")
	}
	c.HealthInterval = cmp.Or(c.HealthInterval, 60*time.Second)
	c.PoolWatchInterval = cmp.Or(c.PoolWatchInterval, 10*time.Second)
	c.CostSchedule = cmp.Or(c.CostSchedule, DefaultCostSchedule)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.HealthInterval < time.Second || c.PoolWatchInterval < time.Second {
		return fmt.Errorf("scheduler: intervals must be at least 1s, got health %s and pool watch %s", c.HealthInterval, c.PoolWatchInterval)
	}
	if _, err := queue.ParseSchedule(c.CostSchedule); err != nil {
		return err
	}
	return nil
}

// Register adds the health sweep, pool watch and cost analysis entries to
// s.
func Register(s *queue.Scheduler, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	p := &plan{cfg: cfg}
	entries := []struct {
		name, spec, taskType string
		build                func(ctx context.Context, slot time.Time) ([]queue.SubjectTask, error)
	}{
		{EntryHealthSweep, every(cfg.HealthInterval), queue.TypeHealthSweep, p.healthSweeps},
		{EntryPoolWatch, every(cfg.PoolWatchInterval), queue.TypePoolWatch, p.poolWatch},
		{EntryCostAnalyze, cfg.CostSchedule, queue.TypeCostAnalyze, p.costAnalyze},
	}
	for _, e := range entries {
		build := p.ifHandled(e.taskType, e.build)
		if err := s.EnqueueEach(e.spec, e.name, build); err != nil {
			return fmt.Errorf("scheduler: %s: %w", e.name, err)
		}
		if !cfg.Handles(e.taskType) {
			s.Note(e.name, "not enqueued: no handler for "+e.taskType+" in this fleet yet")
		}
	}
	return nil
}

func every(d time.Duration) string { return "@every " + d.String() }

// plan builds the entries' tasks.
type plan struct {
	cfg    Config
	warned sync.Map // task type -> struct{}: logged once that it has no handler
}

// ifHandled wraps build so it returns no task while the task type has no
// handler, logging that once.
func (p *plan) ifHandled(taskType string, build func(context.Context, time.Time) ([]queue.SubjectTask, error)) func(context.Context, time.Time) ([]queue.SubjectTask, error) {
	return func(ctx context.Context, slot time.Time) ([]queue.SubjectTask, error) {
		if !p.cfg.Handles(taskType) {
			if _, seen := p.warned.LoadOrStore(taskType, struct{}{}); !seen {
				p.cfg.Logger.InfoContext(ctx, "periodic task not enqueued: no handler registered", slog.String("type", taskType))
			}
			return nil, nil
		}
		return build(ctx, slot)
	}
}

// healthSweeps is one health:sweep per ready instance, timing out (and
// never retried) within its interval: the next slot sweeps again.
func (p *plan) healthSweeps(ctx context.Context, slot time.Time) ([]queue.SubjectTask, error) {
	list, err := p.cfg.Instances.ListInstances(ctx, controlplane.InstanceFilter{Status: provider.StatusReady})
	if err != nil {
		return nil, fmt.Errorf("scheduler: list instances: %w", err)
	}
	out := make([]queue.SubjectTask, 0, len(list))
	for _, inst := range list {
		task, err := queue.NewTask(queue.TypeHealthSweep, queue.HealthSweepPayload{InstanceID: inst.ID, Slot: slot.UTC()})
		if err != nil {
			return nil, err
		}
		out = append(out, queue.SubjectTask{Subject: inst.ID, Task: task, Opts: []asynq.Option{
			asynq.Queue(queue.QueueDefault), asynq.MaxRetry(0), asynq.Timeout(p.cfg.HealthInterval),
		}})
	}
	return out, nil
}

// poolWatch is the one pool:watch of the slot.
func (p *plan) poolWatch(_ context.Context, slot time.Time) ([]queue.SubjectTask, error) {
	task, err := queue.NewTask(queue.TypePoolWatch, queue.PoolWatchPayload{Slot: slot.UTC()})
	if err != nil {
		return nil, err
	}
	return []queue.SubjectTask{{Task: task, Opts: []asynq.Option{
		asynq.Queue(queue.QueueDefault), asynq.MaxRetry(0), asynq.Timeout(p.cfg.PoolWatchInterval),
	}}}, nil
}

// costAnalyze is the day's cost:analyze, on the low queue.
func (p *plan) costAnalyze(_ context.Context, slot time.Time) ([]queue.SubjectTask, error) {
	task, err := queue.NewTask(queue.TypeCostAnalyze, queue.CostAnalyzePayload{Slot: slot.UTC()})
	if err != nil {
		return nil, err
	}
	return []queue.SubjectTask{{Task: task, Opts: []asynq.Option{
		asynq.Queue(queue.QueueLow), asynq.MaxRetry(3), asynq.Timeout(time.Hour),
	}}}, nil
}
