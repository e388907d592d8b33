package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/queue"
)

// InstanceCreateTaskID is the deterministic task id of an instance's
// instance:create, so at most one is queued per instance.
func InstanceCreateTaskID(instanceID string) string { return "instance:create:" + instanceID }

// InstanceCheckTaskID is the deterministic task id of an instance's
// attempt-th instance:check.
func InstanceCheckTaskID(instanceID string, attempt int) string {
	return "instance:check:" + instanceID + ":" + strconv.Itoa(attempt)
}

// enqueueCreate queues instance:create for an instance row in status
// creating. A duplicate (one already queued or recently run) is fine.
func (a *Agent) enqueueCreate(ctx context.Context, instanceID string) error {
	task, err := queue.NewTask(queue.TypeInstanceCreate, queue.InstancePayload{InstanceID: instanceID})
	if err != nil {
		return err
	}
	_, err = a.cfg.Queue.Enqueue(ctx, task, asynq.TaskID(InstanceCreateTaskID(instanceID)),
		asynq.Queue(queue.QueueDefault), asynq.MaxRetry(a.cfg.InstanceMaxRetry),
		asynq.Retention(queue.DefaultRetention))
	return err
}

// HandleInstanceCreate handles instance:create: it asks the provider for
// the instance of a control-plane row in status creating, stores where it
// is, and then either finishes it (ready: its database is prepared, the
// row marked ready and the waiting onboardings woken) or polls it with
// instance:check.
func (a *Agent) HandleInstanceCreate(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.InstancePayload](t)
	if err != nil {
		return err
	}
	return a.createInstance(ctx, p.InstanceID, lastAttempt(ctx))
}

// createInstance is instance:create's work; final says a retryable
// provider error is final (the task's last attempt). The placement also
// runs it inline when it asks for an instance, so a busy worker does not
// keep onboardings waiting for the instance:create task's turn.
func (a *Agent) createInstance(ctx context.Context, id string, final bool) error {
	inst, err := a.cfg.Catalog.GetInstance(ctx, id)
	if errors.Is(err, controlplane.ErrInstanceNotFound) {
		return fmt.Errorf("provision: instance:create: %w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	switch inst.Status {
	case provider.StatusReady:
		a.wake(ctx, inst)
		return nil
	case provider.StatusCreating:
	default:
		return nil // failed, deleting or deleted: nothing to create
	}
	created, err := a.cfg.Provider.Create(ctx, provider.Spec{ID: inst.ID, Tier: inst.Tier, Fleet: a.cfg.Fleet})
	if err != nil {
		return a.providerFailed(ctx, inst, "create", err, final)
	}
	return a.observe(ctx, inst, created, 0)
}

// HandleInstanceCheck handles instance:check: it describes an instance
// still creating and finishes it, polls again later, or marks it failed
// after Config.MaxChecks polls.
func (a *Agent) HandleInstanceCheck(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.InstancePayload](t)
	if err != nil {
		return err
	}
	inst, err := a.cfg.Catalog.GetInstance(ctx, p.InstanceID)
	if errors.Is(err, controlplane.ErrInstanceNotFound) {
		return fmt.Errorf("provision: instance:check: %w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if inst.Status != provider.StatusCreating {
		return nil
	}
	var described provider.Instance
	if inst.ProviderRef == "" {
		described, err = a.cfg.Provider.Create(ctx, provider.Spec{ID: inst.ID, Tier: inst.Tier, Fleet: a.cfg.Fleet})
	} else {
		described, err = a.cfg.Provider.Describe(ctx, inst.ProviderRef)
	}
	if err != nil {
		return a.providerFailed(ctx, inst, "describe", err, lastAttempt(ctx))
	}
	return a.observe(ctx, inst, described, p.Attempt)
}

// providerFailed handles a provider error: worth retrying, the task is
// retried (and the instance failed when final); otherwise the instance is
// failed at once.
func (a *Agent) providerFailed(ctx context.Context, inst controlplane.Instance, op string, err error, final bool) error {
	err = fmt.Errorf("provision: %s instance %s: %w", op, inst.ID, err)
	if provider.Retryable(err) && !final {
		return err
	}
	if ferr := a.failInstance(ctx, inst, err.Error()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// observe stores what the provider reported of inst and acts on its state.
// attempt is the number of instance:check polls so far.
func (a *Agent) observe(ctx context.Context, inst controlplane.Instance, got provider.Instance, attempt int) error {
	log := queue.Logger(ctx).With(slog.String("instance", inst.ID))
	if err := a.storeEndpoint(ctx, inst.ID, got); err != nil {
		return err
	}
	inst, err := a.cfg.Catalog.GetInstance(ctx, inst.ID)
	if err != nil {
		return err
	}
	switch got.Status {
	case provider.StatusReady:
		// Prepare now so onboardings find it done; an instance the agent
		// cannot reach yet is still ready, and the onboarding saga
		// prepares it (its prepare step).
		if err := a.prepare(ctx, inst); err != nil {
			log.WarnContext(ctx, "instance ready but not prepared; onboarding will prepare it", slog.Any("error", err))
		}
		if err := a.cfg.Catalog.SetInstanceStatus(ctx, inst.ID, provider.StatusReady, ""); err != nil {
			return err
		}
		log.InfoContext(ctx, "instance ready", slog.String("tier", string(inst.Tier)), slog.String("provider", a.cfg.Provider.Name()))
		inst.Status = provider.StatusReady
		a.wake(ctx, inst)
		return nil
	case provider.StatusCreating:
		next := attempt + 1
		if next > a.cfg.MaxChecks {
			return a.failInstance(ctx, inst, fmt.Sprintf("not ready after %d checks", a.cfg.MaxChecks))
		}
		task, err := queue.NewTask(queue.TypeInstanceCheck, queue.InstancePayload{InstanceID: inst.ID, Attempt: next})
		if err != nil {
			return err
		}
		_, err = a.cfg.Queue.Enqueue(ctx, task, asynq.TaskID(InstanceCheckTaskID(inst.ID, next)),
			asynq.Queue(queue.QueueDefault), asynq.ProcessIn(a.cfg.CheckDelay),
			asynq.MaxRetry(a.cfg.InstanceMaxRetry), asynq.Retention(queue.DefaultRetention))
		if err != nil {
			return err
		}
		log.DebugContext(ctx, "instance creating, check scheduled", slog.Int("attempt", next), slog.Duration("in", a.cfg.CheckDelay))
		return nil
	default:
		reason := got.StatusReason
		if reason == "" {
			reason = "provider reports " + string(got.Status)
		}
		return a.failInstance(ctx, inst, reason)
	}
}

// failInstance marks inst failed with reason and wakes the onboardings
// waiting for it (they fail, or look for another instance).
func (a *Agent) failInstance(ctx context.Context, inst controlplane.Instance, reason string) error {
	if err := a.cfg.Catalog.SetInstanceStatus(ctx, inst.ID, provider.StatusFailed, reason); err != nil {
		return err
	}
	queue.Logger(ctx).ErrorContext(ctx, "instance failed", slog.String("instance", inst.ID),
		slog.String("reason", reason), slog.String("alert", "instance_create_failed"))
	inst.Status = provider.StatusFailed
	a.wake(ctx, inst)
	return nil
}

// storeEndpoint records where the provider put the instance.
func (a *Agent) storeEndpoint(ctx context.Context, id string, got provider.Instance) error {
	return a.cfg.Catalog.SetInstanceEndpoint(ctx, id, got)
}

// wake enqueues a tenant:onboard for each onboarding waiting on inst, so
// they resume now rather than on their task's next retry. Failures are
// logged: the tasks' own retries resume them anyway.
func (a *Agent) wake(ctx context.Context, inst controlplane.Instance) {
	log := queue.Logger(ctx)
	ws, err := a.cfg.Catalog.WaitingOn(ctx, inst.ID, inst.Tier)
	if err != nil {
		log.WarnContext(ctx, "find waiting onboardings", slog.String("instance", inst.ID), slog.Any("error", err))
		return
	}
	for _, w := range ws {
		task, err := queue.NewTask(queue.TypeTenantOnboard, queue.OnboardPayload{RequestID: w.RequestID, TenantID: w.TenantID})
		if err == nil {
			_, err = a.cfg.Queue.Enqueue(ctx, task, asynq.TaskID(wakeTaskID(w.RequestID, inst)),
				asynq.Queue(queue.QueueCritical), asynq.MaxRetry(a.cfg.WakeMaxRetry),
				asynq.Retention(queue.DefaultRetention))
		}
		if err != nil {
			log.WarnContext(ctx, "wake onboarding", slog.String("tenant", w.TenantID), slog.Any("error", err))
		}
	}
}

// wakeTaskID names the wake-up of request by inst reaching status.
func wakeTaskID(request int64, inst controlplane.Instance) string {
	return queue.OnboardTaskID(request) + ":wake:" + inst.ID + ":" + string(inst.Status)
}

// lastAttempt reports whether the running task has no retry left. Outside
// a worker (a handler called directly) it is false.
func lastAttempt(ctx context.Context) bool {
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}
