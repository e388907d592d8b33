package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// Location is the time zone of cron specs. Default UTC; the fleet
	// always schedules in UTC, so daylight-saving changes never skip or
	// repeat a slot.
	Location *time.Location
	// Now is the clock. Default time.Now; tests set it.
	Now func() time.Time
}

// Scheduler runs periodic work on robfig/cron. Every periodic enqueue
// carries a task id derived from its kind, subject and slot time (UTC), kept
// for the slot's span, so two schedulers (twin replicas, a restart within
// the same slot) enqueue it once. Start also runs every entry once for its
// current slot, so a scheduler restarted after missing a slot catches it
// up; the task ids make that catch-up a no-op when nothing was missed.
type Scheduler struct {
	cfg     SchedulerConfig
	cron    *cron.Cron
	entries []entry

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	stopped bool
}

// entry is one registered periodic entry.
type entry struct {
	name  string
	spec  string
	sched cron.Schedule
	note  string
	run   func(ctx context.Context, slot time.Time)
}

// NewScheduler builds a scheduler; add entries before Start.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Client == nil {
		return nil, errors.New("queue: scheduler needs a client")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Location = cmp.Or(cfg.Location, time.UTC)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{
		cfg:  cfg,
		cron: cron.New(cron.WithLocation(cfg.Location)),
	}, nil
}

// ParseSchedule parses a standard five-field cron spec, a descriptor such
// as @hourly, or "@every D" (D at least 1s). Unlike robfig's own @every,
// which counts from process start, ours is aligned to the wall clock
// (multiples of D since the zero time, so UTC midnight for any D dividing
// a day), so every scheduler computes the same slots.
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

// catchUpLookback bounds how far back CurrentSlot searches a cron spec's
// latest slot: a day covers @hourly and @daily specs; an entry whose slots
// are further apart is not caught up after a restart.
const catchUpLookback = 25 * time.Hour

// CurrentSlot returns the latest slot of sched at or before now, or the zero
// time when there is none within a day.
func CurrentSlot(sched cron.Schedule, now time.Time) time.Time {
	if a, ok := sched.(alignedEvery); ok {
		return now.Truncate(time.Duration(a))
	}
	var last time.Time
	for t := sched.Next(now.Add(-catchUpLookback)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
	}
	return last
}

// slotRetention is how long the task of a slot keeps its id: the slot's
// span (until the next slot), at least a minute, so a re-enqueue of the
// same slot by a twin or a restarted scheduler collapses into the task.
func slotRetention(sched cron.Schedule, slot time.Time) time.Duration {
	return max(sched.Next(slot).Sub(slot), time.Minute)
}

// BuildFunc returns the task to enqueue for one slot, with its options
// (queue, timeout…). The scheduler adds the deterministic task id and a
// retention covering the slot.
type BuildFunc func(slot time.Time) (*asynq.Task, []asynq.Option, error)

// Enqueue registers a periodic enqueue named name (unique per scheduler):
// one task per slot, id SlotTaskID(name, slot).
func (s *Scheduler) Enqueue(spec, name string, build BuildFunc) error {
	return s.EnqueueEach(spec, name, func(_ context.Context, slot time.Time) ([]SubjectTask, error) {
		task, opts, err := build(slot)
		if err != nil {
			return nil, err
		}
		return []SubjectTask{{Task: task, Opts: opts}}, nil
	})
}

// SubjectTask is one task of a periodic entry that enqueues a task per
// subject (an instance, a tenant).
type SubjectTask struct {
	// Subject names what the task is about; empty for an entry's only task.
	Subject string
	// Task is the task.
	Task *asynq.Task
	// Opts are its options (queue, timeout…); the scheduler adds the task
	// id and retention.
	Opts []asynq.Option
}

// EnqueueEach registers a periodic entry that enqueues, every slot, the
// tasks build returns, each with id PeriodicTaskID(name, subject, slot)
// and a retention covering the slot. A failed enqueue is logged and the
// others still go.
func (s *Scheduler) EnqueueEach(spec, name string, build func(ctx context.Context, slot time.Time) ([]SubjectTask, error)) error {
	sched, err := ParseSchedule(spec)
	if err != nil {
		return err
	}
	return s.add(spec, name, sched, func(ctx context.Context, slot time.Time) error {
		tasks, err := build(ctx, slot)
		if err != nil {
			return err
		}
		retention := slotRetention(sched, slot)
		var errs []error
		fresh := 0
		for _, st := range tasks {
			opts := append(slices.Clip(st.Opts), asynq.TaskID(PeriodicTaskID(name, st.Subject, slot)), asynq.Retention(retention))
			res, err := s.cfg.Client.Enqueue(ctx, st.Task, opts...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !res.Duplicate {
				fresh++
			}
		}
		if fresh > 0 {
			s.cfg.Logger.DebugContext(ctx, "periodic tasks enqueued", slog.String("entry", name),
				slog.Time("slot", slot), slog.Int("tasks", fresh))
		}
		return errors.Join(errs...)
	})
}

// SlotTaskID is the deterministic id of a periodic task for one slot.
func SlotTaskID(name string, slot time.Time) string { return PeriodicTaskID(name, "", slot) }

// PeriodicTaskID is the deterministic id of a periodic task: its kind (the
// entry name), its subject (an instance or tenant id; empty for one task
// per slot) and its slot time in UTC, e.g.
// "health-sweep:inst-1@2026-01-01T10:00:00Z".
func PeriodicTaskID(kind, subject string, slot time.Time) string {
	if subject != "" {
		kind += ":" + subject
	}
	return kind + "@" + slot.UTC().Format(time.RFC3339)
}

// Func registers a periodic function run in the scheduler process itself.
// It receives the slot time the entry fired for; Start also calls it once
// for the current slot, so it must tolerate running twice for one slot.
func (s *Scheduler) Func(spec, name string, fn func(ctx context.Context, slot time.Time) error) error {
	sched, err := ParseSchedule(spec)
	if err != nil {
		return err
	}
	return s.add(spec, name, sched, fn)
}

func (s *Scheduler) add(spec, name string, sched cron.Schedule, fn func(ctx context.Context, slot time.Time) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("queue: scheduler entry %s added after Start", name)
	}
	for _, e := range s.entries {
		if e.name == name {
			return fmt.Errorf("queue: scheduler entry %s registered twice", name)
		}
	}
	e := entry{name: name, spec: spec, sched: sched}
	e.run = func(ctx context.Context, slot time.Time) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := fn(ctx, slot); err != nil && !errors.Is(err, context.Canceled) {
			s.cfg.Logger.ErrorContext(ctx, "periodic entry failed", slog.String("entry", name),
				slog.Time("slot", slot), slog.Any("error", err))
		}
	}
	s.entries = append(s.entries, e)
	job := &slotJob{sched: sched, now: s.cfg.Now}
	job.run = func() { e.run(s.ctx, job.slot()) }
	s.cron.Schedule(job, job)
	return nil
}

// EntryInfo describes a registered entry.
type EntryInfo struct {
	// Name is the entry's name, which prefixes its task ids.
	Name string `json:"name"`
	// Spec is its schedule as given.
	Spec string `json:"spec"`
	// Next is its next slot after the time asked about, in UTC.
	Next time.Time `json:"next"`
	// Note says why the entry enqueues nothing, empty when it does.
	Note string `json:"note,omitempty"`
}

// Note attaches a note to a registered entry, shown by Entries: for an
// entry that fires but enqueues nothing, why.
func (s *Scheduler) Note(name, note string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.entries {
		if s.entries[i].name == name {
			s.entries[i].note = note
		}
	}
}

// Entries lists the registered entries with their next slot after now, in
// registration order. It works on a scheduler that was never started.
func (s *Scheduler) Entries(now time.Time) []EntryInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EntryInfo, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, EntryInfo{Name: e.name, Spec: e.spec, Next: e.sched.Next(now.In(s.cfg.Location)).UTC(), Note: e.note})
	}
	return out
}

// slotJob remembers the slots it was scheduled for, so a job that fires a
// little late still names its slot exactly. Cron computes the following
// slot while the job starts, so the job takes the latest slot not in the
// future.
type slotJob struct {
	sched      cron.Schedule
	now        func() time.Time
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
	if !j.next.After(j.now()) {
		return j.next
	}
	return j.prev
}

func (j *slotJob) Run() { j.run() }

// Start runs the entries in the background, beginning with one catch-up
// run of every entry for its current slot. It returns without waiting for
// the catch-up.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("queue: scheduler already started")
	}
	s.started = true
	// Entries outlive the start call's context; Stop cancels them.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	now := s.cfg.Now()
	for _, e := range s.entries {
		slot := CurrentSlot(e.sched, now.In(s.cfg.Location))
		if slot.IsZero() {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			e.run(s.ctx, slot)
		}()
	}
	s.cron.Start()
	s.cfg.Logger.InfoContext(ctx, "scheduler started", slog.Int("entries", len(s.entries)))
	return nil
}

// Stop stops firing entries and waits for the running ones (the start's
// catch-up included) to finish; each is bounded by its 30s timeout. Safe
// to call twice.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopped {
		return
	}
	s.stopped = true
	<-s.cron.Stop().Done()
	s.wg.Wait()
	s.cancel()
}

// Logger is the scheduler's logger, for the entries registered on it.
func (s *Scheduler) Logger() *slog.Logger { return s.cfg.Logger }
