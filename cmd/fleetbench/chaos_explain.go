package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// explainLimit bounds how many items of each kind explainFailures lists.
const explainLimit = 10

// explainFailures writes to w, for a few items of each kind of lost or
// unfinished work, where it is: its control-plane rows and the state of its
// task in Redis. It is for the engineer reading a non-zero figure; errors
// only shorten it.
func explainFailures(ctx context.Context, cp *pgxpool.Pool, insp *asynq.Inspector, offboards []string, w io.Writer) {
	store := controlplane.NewStore(cp)
	onboardings, _ := store.OnboardingTraces(ctx, 2*explainLimit)
	for _, o := range onboardings {
		fmt.Fprintf(w, "  onboarding %s: request %d %s (%d enqueues), tenant %s, last step %s, last error %q; task %s\n",
			o.TenantID, o.RequestID, o.Status, o.Enqueues, o.TenantStatus, o.Step, o.LastError,
			taskState(insp, queue.QueueCritical, queue.OnboardTaskID(o.RequestID)))
	}
	offboardings, _ := store.OffboardingTraces(ctx, offboards, explainLimit)
	for _, o := range offboardings {
		fmt.Fprintf(w, "  offboarding %s: tenant %s %q, request %d; task %s\n", o.TenantID, o.TenantStatus, o.Reason,
			o.RequestID, taskState(insp, queue.QueueCritical, offboard.TaskID(o.RequestID)))
	}
	migrations, _ := store.MigrationTraces(ctx, explainLimit)
	for _, m := range migrations {
		fmt.Fprintf(w, "  migration run %d, tenant %s: %s %q, %d attempts, untouched for %s\n",
			m.RunID, m.TenantID, m.Status, m.Reason, m.Attempts, time.Since(m.UpdatedAt).Round(time.Second))
	}
	if q, err := insp.GetQueueInfo(queue.QueueMaintenance); err == nil {
		fmt.Fprintf(w, "  queue %s: %d pending, %d active, %d scheduled, %d retry, %d archived\n",
			q.Queue, q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived)
	}
}

// taskState describes task id of queue in Redis.
func taskState(insp *asynq.Inspector, queueName, id string) string {
	info, err := insp.GetTaskInfo(queueName, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return id + " not in Redis"
	case err != nil:
		return id + ": " + err.Error()
	}
	s := fmt.Sprintf("%s %s (retried %d of %d", id, info.State, info.Retried, info.MaxRetry)
	if !info.NextProcessAt.IsZero() {
		s += fmt.Sprintf(", next in %s", time.Until(info.NextProcessAt).Round(time.Second))
	}
	if info.LastErr != "" {
		s += fmt.Sprintf(", last error %q", truncate(info.LastErr, 200))
	}
	return s + ")"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
