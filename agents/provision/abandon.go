package provision

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// failAbandoned is the agent's handler of abandoned requests, set by New: the intake
// reconciler found the request's task archived with the request unfinished
// (a worker killed on the task's last attempt). Under the tenant's lease,
// so no attempt is at work on it, it fails the onboarding the way a last
// attempt would: the tenant failed (unless it made it to active), the
// request failed with reason, the alert raised. A tenant leased by a live
// attempt (a wake-up may be finishing the onboarding) is left for the next
// reconciler pass.
func (a *Agent) failAbandoned(ctx context.Context, rec controlplane.IntakeRequest, reason string) error {
	l, err := a.holdLease(ctx, rec.TenantID, "abandoned:"+onboardTaskID(rec))
	if errors.Is(err, ErrBusy) {
		queue.Logger(ctx).InfoContext(ctx, "abandoned onboarding: tenant busy, the next reconciler pass retries",
			slog.String("tenant", rec.TenantID), slog.Int64("request_id", rec.ID))
		return nil
	}
	if err != nil {
		return err
	}
	defer l.release()
	cur, err := a.store.IntakeRequest(l.ctx, rec.ID)
	if err != nil {
		return err
	}
	if cur.Status.Finished() || cur.TaskAttempt != rec.TaskAttempt {
		return nil // settled meanwhile
	}
	p := queue.OnboardPayload{RequestID: rec.ID, TenantID: rec.TenantID}
	return a.fail(l.ctx, p, errors.New(reason), time.Since(rec.CreatedAt))
}
