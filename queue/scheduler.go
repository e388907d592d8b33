package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Client enqueues the periodic tasks. Required.
	Client *Client
	// Logger receives scheduler logs. Default slog.Default().
	Logger *slog.Logger
	// Location is the time zone of cron specs. Default UTC.
	Location *time.Location
}

// Scheduler runs periodic work on robfig/cron. Every periodic enqueue
// carries a task id derived from its name and slot time, so two schedulers
// (a twin process, a restart within the same slot) enqueue it once.
type Scheduler struct {
	cfg  SchedulerConfig
	cron *cron.Cron

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	started bool
	stopped bool
}

// NewScheduler builds a scheduler; add entries before Start.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Client == nil {
		return nil, errors.New("queue: scheduler needs a client")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Location = cmp.Or(cfg.Location, time.UTC)
	return &Scheduler{
		cfg:  cfg,
		cron: cron.New(cron.WithLocation(cfg.Location)),
	}, nil
}

// ParseSchedule parses a standard five-field cron spec, a descriptor such
// as @hourly, or "@every D". Unlike robfig's own @every, which counts from
// process start, ours is aligned to the wall clock (multiples of D since
// the epoch), so every scheduler computes the same slots.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("queue: schedule %q: @every needs a duration of at least 1s", spec)
		}
		return alignedEvery(d), nil
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("queue: schedule %q: %w", spec, err)
	}
	return s, nil
}

type alignedEvery time.Duration

func (a alignedEvery) Next(t time.Time) time.Time {
	d := time.Duration(a)
	return t.Truncate(d).Add(d)
}

// BuildFunc returns the task to enqueue for one slot, with its options
// (queue, timeout…). The scheduler adds the deterministic task id and a
// retention covering the slot.
type BuildFunc func(slot time.Time) (*asynq.Task, []asynq.Option, error)

// Enqueue registers a periodic enqueue named name (unique per scheduler).
func (s *Scheduler) Enqueue(spec, name string, build BuildFunc) error {
	return s.Func(spec, name, func(ctx context.Context, slot time.Time) error {
		task, opts, err := build(slot)
		if err != nil {
			return err
		}
		opts = append(opts, asynq.TaskID(SlotTaskID(name, slot)), asynq.Retention(time.Hour))
		res, err := s.cfg.Client.Enqueue(ctx, task, opts...)
		if err != nil {
			return err
		}
		if !res.Duplicate {
			s.cfg.Logger.DebugContext(ctx, "periodic task enqueued", slog.String("entry", name), slog.String("task_id", res.ID))
		}
		return nil
	})
}

// SlotTaskID is the deterministic id of a periodic task for one slot.
func SlotTaskID(name string, slot time.Time) string {
	return name + "@" + slot.UTC().Format(time.RFC3339)
}

// Func registers a periodic function run in the scheduler process itself.
// It receives the slot time the entry fired for.
func (s *Scheduler) Func(spec, name string, fn func(ctx context.Context, slot time.Time) error) error {
	sched, err := ParseSchedule(spec)
	if err != nil {
		return err
	}
	job := &slotJob{sched: sched}
	job.run = func() {
		slot := job.slot()
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		if err := fn(ctx, slot); err != nil && !errors.Is(err, context.Canceled) {
			s.cfg.Logger.ErrorContext(ctx, "periodic entry failed", slog.String("entry", name), slog.Any("error", err))
		}
	}
	s.cron.Schedule(job, job)
	return nil
}

// slotJob remembers the slots it was scheduled for, so a job that fires a
// little late still names its slot exactly. Cron computes the following
// slot while the job starts, so the job takes the latest slot not in the
// future.
type slotJob struct {
	sched      cron.Schedule
	run        func()
	mu         sync.Mutex
	prev, next time.Time
}

func (j *slotJob) Next(t time.Time) time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.prev, j.next = j.next, j.sched.Next(t)
	return j.next
}

func (j *slotJob) slot() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.next.After(time.Now()) {
		return j.next
	}
	return j.prev
}

func (j *slotJob) Run() { j.run() }

// Start runs the entries in the background.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("queue: scheduler already started")
	}
	s.started = true
	// Entries outlive the start call's context; Stop cancels them.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.cron.Start()
	s.cfg.Logger.InfoContext(ctx, "scheduler started", slog.Int("entries", len(s.cron.Entries())))
	return nil
}

// Stop stops firing entries and waits for running ones. Safe to call twice.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopped {
		return
	}
	s.stopped = true
	s.cancel()
	<-s.cron.Stop().Done()
}
