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
	"github.com/tenantfleet/tenantfleet/queue"
)

// explainLimit bounds how many items of each kind explainFailures lists.
const explainLimit = 10

// explainFailures writes to w, for a few items of each kind of lost or
// unfinished work, where it is: its control-plane rows and the state of its
// task in Redis. It is for the engineer reading a non-zero figure; errors
// only shorten it.
func explainFailures(ctx context.Context, cp *pgxpool.Pool, insp *asynq.Inspector, offboards []string, w io.Writer) {
	rows, err := cp.Query(ctx, `SELECT i.id, i.tenant_id, i.status, i.attempts, coalesce(t.status, '-'),
			coalesce(o.step, '-'), left(coalesce(nullif(o.last_error, ''), i.error), 200)
		FROM intake_requests i LEFT JOIN tenants t ON t.id = i.tenant_id LEFT JOIN tenant_onboarding o ON o.tenant_id = i.tenant_id
		WHERE i.status IN ('pending', 'enqueued', 'failed') ORDER BY i.status = 'failed', i.id LIMIT $1`, 2*explainLimit)
	if err == nil {
		for rows.Next() {
			var id int64
			var attempts int
			var tenant, status, tenantStatus, step, lastErr string
			if rows.Scan(&id, &tenant, &status, &attempts, &tenantStatus, &step, &lastErr) != nil {
				break
			}
			fmt.Fprintf(w, "  onboarding %s: request %d %s (%d enqueues), tenant %s, last step %s, last error %q; task %s\n",
				tenant, id, status, attempts, tenantStatus, step, lastErr,
				taskState(insp, queue.QueueCritical, queue.OnboardTaskID(id)))
		}
		rows.Close()
	}
	rows, err = cp.Query(ctx, `SELECT r.id, coalesce(t.status, 'missing'), coalesce(t.status_reason, ''),
		       coalesce((SELECT max(o.id) FROM offboard_requests o WHERE o.tenant_id = r.id), 0)
		FROM unnest($1::text[]) AS r(id) LEFT JOIN tenants t USING (id)
		WHERE t.status IS DISTINCT FROM 'offboarded' ORDER BY 1 LIMIT $2`, offboards, explainLimit)
	if err == nil {
		for rows.Next() {
			var tenant, status, reason string
			var request int64
			if rows.Scan(&tenant, &status, &reason, &request) != nil {
				break
			}
			fmt.Fprintf(w, "  offboarding %s: tenant %s %q, request %d; task %s\n", tenant, status, reason, request,
				taskState(insp, queue.QueueCritical, offboard.TaskID(request)))
		}
		rows.Close()
	}
	rows, err = cp.Query(ctx, `SELECT t.run_id, t.tenant_id, t.status, t.reason, t.attempts, t.updated_at
		FROM migration_run_tenants t JOIN migration_runs r ON r.id = t.run_id
		WHERE r.status = 'running' AND t.status NOT IN ('succeeded', 'failed') ORDER BY 1, 2 LIMIT $1`, explainLimit)
	if err == nil {
		for rows.Next() {
			var run int64
			var tenant, status, reason string
			var attempts int
			var updated time.Time
			if rows.Scan(&run, &tenant, &status, &reason, &attempts, &updated) != nil {
				break
			}
			fmt.Fprintf(w, "  migration run %d, tenant %s: %s %q, %d attempts, untouched for %s\n",
				run, tenant, status, reason, attempts, time.Since(updated).Round(time.Second))
		}
		rows.Close()
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
