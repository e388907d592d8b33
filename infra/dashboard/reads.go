package dashboard

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// The reads of Redis the pages join with the control plane's: queue depths
// and a tenant's tasks (Asynq's inspector), pool figures (the statistics
// each process publishes).

// queueNames are the fleet's queues, by weight.
var queueNames = []string{queue.QueueCritical, queue.QueueDefault, queue.QueueMaintenance, queue.QueueLow}

// QueueDepth is one queue's tasks by state.
type QueueDepth struct {
	Name                                        string
	Pending, Active, Scheduled, Retry, Archived int
	// Unknown is true when the inspector could not read the queue.
	Unknown bool
}

// Depth is the work waiting or running: pending, active, scheduled and
// retrying tasks (archived ones are dead letters, not depth).
func (q QueueDepth) Depth() int { return q.Pending + q.Active + q.Scheduled + q.Retry }

// queueDepths reads each queue; a queue Redis has not seen yet is empty.
func (d *Dashboard) queueDepths() []QueueDepth {
	known, err := d.cfg.Queues.Queues()
	out := make([]QueueDepth, 0, len(queueNames))
	for _, name := range queueNames {
		q := QueueDepth{Name: name}
		switch {
		case err != nil:
			q.Unknown = true
		case slices.Contains(known, name):
			info, err := d.cfg.Queues.GetQueueInfo(name)
			if err != nil {
				q.Unknown = true
				break
			}
			q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived = info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived
		}
		out = append(out, q)
	}
	return out
}

// TaskRow is one task of a tenant found in the queues.
type TaskRow struct {
	ID, Queue, Type, State, LastErr string
	Retried                         int
}

// tasksPerState bounds how many tasks of each state and queue the tenant
// page scans for the tenant's.
const tasksPerState = 200

// tenantTasks finds the tasks whose payload names tenantID among the first
// tasksPerState of each state of each queue.
func (d *Dashboard) tenantTasks(tenantID string) []TaskRow {
	var out []TaskRow
	known, err := d.cfg.Queues.Queues()
	if err != nil {
		return nil
	}
	page := asynq.PageSize(tasksPerState)
	for _, q := range queueNames {
		if !slices.Contains(known, q) {
			continue
		}
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			d.cfg.Queues.ListActiveTasks, d.cfg.Queues.ListPendingTasks, d.cfg.Queues.ListScheduledTasks,
			d.cfg.Queues.ListRetryTasks, d.cfg.Queues.ListArchivedTasks,
		} {
			tasks, err := list(q, page)
			if err != nil {
				continue
			}
			for _, t := range tasks {
				var p struct {
					TenantID string `json:"tenant_id"`
				}
				if json.Unmarshal(t.Payload, &p) == nil && p.TenantID == tenantID {
					out = append(out, TaskRow{ID: t.ID, Queue: t.Queue, Type: t.Type, State: t.State.String(),
						LastErr: t.LastErr, Retried: t.Retried})
				}
			}
		}
	}
	return out
}

// PoolFigures are one pool's or one tenant's connection figures, summed
// over every process that published them.
type PoolFigures struct {
	InFlight, Waiting, Size int
	Exhausted               uint64
	// WaitCount and WaitSum are the admission waits' histogram count and
	// sum (seconds).
	WaitCount uint64
	WaitSum   float64
}

// MeanWaitMS is the mean admission wait in milliseconds, 0 without waits.
func (p PoolFigures) MeanWaitMS() float64 {
	if p.WaitCount == 0 {
		return 0
	}
	return p.WaitSum / float64(p.WaitCount) * 1000
}

// poolTotals sums the published statistics per pool ("instance:ID" or
// "tenant:ID"); ok is false when they could not be read.
func (d *Dashboard) poolTotals(ctx context.Context) (map[string]PoolFigures, bool) {
	stats, ok := d.readPools(ctx)
	out := map[string]PoolFigures{}
	for _, ps := range stats {
		for _, p := range ps.Pools {
			f := out[p.Pool]
			f.InFlight += p.InFlight
			f.Waiting += p.Waiting
			f.Size += p.Size
			f.Exhausted += p.Exhausted
			f.WaitCount += p.AcquireWait.Count
			f.WaitSum += p.AcquireWait.Sum
			out[p.Pool] = f
		}
	}
	return out, ok
}

// tenantPools sums each tenant's share of every published pool.
func (d *Dashboard) tenantPools(ctx context.Context) (map[string]PoolFigures, bool) {
	stats, ok := d.readPools(ctx)
	out := map[string]PoolFigures{}
	for _, ps := range stats {
		for _, p := range ps.Pools {
			for id, t := range p.Tenants {
				f := out[id]
				f.InFlight += t.InFlight
				f.Waiting += t.Waiting
				f.Exhausted += t.Exhausted
				f.WaitCount += t.AcquireWait.Count
				f.WaitSum += t.AcquireWait.Sum
				out[id] = f
			}
		}
	}
	return out, ok
}

func (d *Dashboard) readPools(ctx context.Context) ([]tenants.ProcessStats, bool) {
	if d.cfg.PoolStats == nil {
		return nil, false
	}
	stats, err := d.cfg.PoolStats(ctx)
	if err != nil {
		d.log.WarnContext(ctx, "dashboard: pool statistics unreadable", "error", err)
		return nil, false
	}
	return stats, true
}
