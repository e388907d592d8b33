package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Register registers the batch:run handler on w.
func (a *Agent) Register(w *queue.Worker) { w.HandleFunc(queue.TypeBatchRun, a.handle) }

// ErrUnknownKind means a batch:run task names a kind this worker does not
// have.
var ErrUnknownKind = errors.New("batch: unknown job kind")

func (a *Agent) handle(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.BatchRunPayload](t)
	if err != nil {
		return err
	}
	if err := tenants.ValidateID(p.TenantID); err != nil {
		return fmt.Errorf("batch: %w: %w", err, asynq.SkipRetry)
	}
	_, err = a.Run(ctx, p)
	return err
}

// Run runs one batch run now, in this process, recording it like a task
// would: its start, then its end with outcome and error. A tenant that is
// no longer active (or gone) is recorded as skipped and is no error.
func (a *Agent) Run(ctx context.Context, p queue.BatchRunPayload) (controlplane.BatchOutcome, error) {
	kind, ok := a.kinds[p.Kind]
	if !ok {
		return "", fmt.Errorf("%w %q: %w", ErrUnknownKind, p.Kind, asynq.SkipRetry)
	}
	if a.cfg.Scope == nil {
		return "", errors.New("batch: running jobs needs a Scope")
	}
	key := controlplane.BatchRunKey{Kind: p.Kind, TenantID: p.TenantID, Slot: p.Slot}
	runID, err := a.cfg.Store.StartBatchRun(ctx, key)
	if err != nil {
		return "", err
	}
	log := a.cfg.Logger.With(slog.String("kind", p.Kind), slog.String("tenant", p.TenantID), slog.Int64("run", runID))
	jctx, cancel := context.WithTimeout(tenants.WithPriority(ctx, tenants.Batch), kind.Timeout)
	defer cancel()
	runErr := runSafely(jctx, kind, Job{RunID: runID, Kind: p.Kind, TenantID: p.TenantID, Slot: p.Slot, Store: a.cfg.Store, scope: a.cfg.Scope})

	outcome, message := controlplane.BatchSucceeded, ""
	switch {
	case errors.Is(runErr, tenants.ErrTenantNotActive), errors.Is(runErr, tenants.ErrTenantNotFound):
		outcome, message, runErr = controlplane.BatchSkipped, runErr.Error(), nil
	case runErr != nil:
		outcome, message = controlplane.BatchFailed, runErr.Error()
	}
	if err := a.cfg.Store.FinishBatchRun(context.WithoutCancel(ctx), runID, outcome, message); err != nil {
		return outcome, errors.Join(runErr, err)
	}
	if runErr != nil {
		log.WarnContext(ctx, "batch run failed", slog.Any("error", runErr))
		return outcome, fmt.Errorf("batch: %s for %s: %w", p.Kind, p.TenantID, runErr)
	}
	log.InfoContext(ctx, "batch run finished", slog.String("outcome", string(outcome)))
	return outcome, nil
}

// runSafely runs the kind, turning a panic into an error so the run is
// recorded as failed rather than left running.
func runSafely(ctx context.Context, k Kind, job Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("batch: %s panicked: %v", k.Name, r)
		}
	}()
	return k.Run(ctx, job)
}
