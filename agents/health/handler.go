package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Register registers the health:sweep and pool:watch handlers on w.
func (a *Agent) Register(w *queue.Worker) {
	w.HandleFunc(queue.TypeHealthSweep, a.handleSweep)
	w.HandleFunc(queue.TypePoolWatch, a.handleWatch)
}

func (a *Agent) handleSweep(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.HealthSweepPayload](t)
	if err != nil {
		return err
	}
	if _, err := a.Sweep(ctx, p.InstanceID); err != nil {
		if errors.Is(err, controlplane.ErrInstanceNotFound) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	return nil
}

func (a *Agent) handleWatch(ctx context.Context, t *asynq.Task) error {
	if _, err := queue.Decode[queue.PoolWatchPayload](t); err != nil {
		return err
	}
	_, err := a.Watch(ctx)
	return errors.Join(err, a.ObserveFailures(ctx))
}
