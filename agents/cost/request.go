package cost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// RequestTaskID is the task id of an analysis asked for now (`fleet cost
// analyze`, POST /api/v1/cost/analyze): one is queued at a time, a second
// request while it is pending or running is told it is already queued.
const RequestTaskID = queue.TypeCostAnalyze + ":request"

// RequestQueue is the queue a requested analysis goes to: someone is
// waiting for it, unlike the scheduler's daily one (queue.QueueLow).
const RequestQueue = queue.QueueDefault

// RequestTimeout bounds one requested analysis on the worker.
const RequestTimeout = time.Hour

// ErrAnalysisFailed reports a requested analysis whose task failed; the
// message carries the task's last error.
var ErrAnalysisFailed = errors.New("cost: the analysis failed")

// ErrInvalidRequest refuses a request whose requester name is not plain
// text of at most queue.MaxRequestedBy characters.
var ErrInvalidRequest = errors.New("cost: invalid analysis request")

// Requested is an analysis queued by Requester.RequestAnalysis.
type Requested struct {
	// TaskID and Queue name the cost:analyze task.
	TaskID string `json:"task_id"`
	Queue  string `json:"queue"`
	// Duplicate is true when an analysis was already queued or running:
	// nothing new was queued, and that one's report answers the request.
	Duplicate bool `json:"duplicate"`
	// AfterReportID is the newest report when the request was made (0:
	// none yet); the requested analysis's report has a larger id.
	AfterReportID int64 `json:"after_report_id"`
}

// Requester queues analyses now, for the CLI and the REST API
// (restapi.CostAnalyze).
type Requester struct {
	// Store is the control plane (the reports).
	Store *controlplane.Store
	// Queue is the task queue the workers of `fleet run` serve.
	Queue *queue.Client
}

// RequestAnalysis queues one cost:analyze task (RequestTaskID) unless one
// is already queued or running, and says which report it will follow. A
// failed earlier request does not block a new one.
func (r Requester) RequestAnalysis(ctx context.Context, requestedBy string) (Requested, error) {
	payload := queue.CostAnalyzePayload{Slot: time.Now().UTC(), RequestedBy: requestedBy}
	if err := payload.Validate(); err != nil {
		return Requested{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	var after int64
	latest, err := r.Store.LatestCostReport(ctx)
	switch {
	case err == nil:
		after = latest.ID
	case !errors.Is(err, controlplane.ErrNoCostReport):
		return Requested{}, err
	}
	task, err := queue.NewTask(queue.TypeCostAnalyze, payload)
	if err != nil {
		return Requested{}, err
	}
	// Not retried: the requester is told of the failure instead.
	res, err := r.Queue.EnqueueUnlessPending(ctx, task, RequestTaskID,
		asynq.Queue(RequestQueue), asynq.MaxRetry(0), asynq.Timeout(RequestTimeout))
	if err != nil {
		return Requested{}, err
	}
	return Requested{TaskID: RequestTaskID, Queue: res.Queue, Duplicate: res.Duplicate, AfterReportID: after}, nil
}

// AnalysisStatus is where a requested analysis stands (GET
// /api/v1/cost/analyze).
type AnalysisStatus struct {
	// TaskID names the requested cost:analyze task.
	TaskID string `json:"task_id"`
	// State is the task's Asynq state (pending, active, retry,
	// archived...), or "done" when it is no longer in its queue (it
	// succeeded and was removed, or none was requested).
	State string `json:"state"`
	// LastError is the archived task's error.
	LastError string `json:"last_error,omitempty"`
	// LatestReportID is the newest report's id (0: none yet).
	LatestReportID int64 `json:"latest_report_id"`
}

// Status reads the newest report and the requested task's state.
func (r Requester) Status(ctx context.Context) (AnalysisStatus, error) {
	st := AnalysisStatus{TaskID: RequestTaskID, State: "done"}
	rep, err := r.Store.LatestCostReport(ctx)
	switch {
	case err == nil:
		st.LatestReportID = rep.ID
	case !errors.Is(err, controlplane.ErrNoCostReport):
		return AnalysisStatus{}, err
	}
	info, err := r.Queue.Lookup(ctx, RequestQueue, RequestTaskID)
	switch {
	case errors.Is(err, queue.ErrTaskNotFound):
	case err != nil:
		return AnalysisStatus{}, err
	default:
		st.State = info.State.String()
		if info.State == asynq.TaskStateArchived {
			st.LastError = info.LastErr
		}
	}
	return st, nil
}

// Progress is where a requested analysis stands while WaitForReport waits.
type Progress struct {
	// State is AnalysisStatus.State.
	State   string
	Elapsed time.Duration
}

// WaitForReport polls status every poll until a report newer than after
// exists and returns its id. progress, when set, is called each time the
// task's state changes. A task that failed (archived), or that left its
// queue twice in a row with no newer report, gives ErrAnalysisFailed;
// ctx's deadline bounds the wait. status is Requester.Status in-process,
// or GET /api/v1/cost/analyze through the API.
func WaitForReport(ctx context.Context, after int64, poll time.Duration,
	status func(context.Context) (AnalysisStatus, error), progress func(Progress)) (int64, error) {
	start := time.Now()
	last := ""
	gone := false
	for {
		st, err := status(ctx)
		if err != nil {
			return 0, err
		}
		if st.LatestReportID > after {
			return st.LatestReportID, nil
		}
		switch st.State {
		case "done":
			// Succeeded and removed: its report commits before the task
			// completes, so one more read finds it; a second miss means
			// the task finished without one.
			if gone {
				return 0, fmt.Errorf("%w: task %s finished but no report newer than %d exists", ErrAnalysisFailed, st.TaskID, after)
			}
			gone = true
		case asynq.TaskStateArchived.String():
			return 0, fmt.Errorf("%w: %s", ErrAnalysisFailed, st.LastError)
		default:
			gone = false
		}
		if st.State != last && progress != nil {
			progress(Progress{State: st.State, Elapsed: time.Since(start)})
		}
		last = st.State
		if gone {
			continue
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("cost: waiting for the analysis (task %s %s): %w", st.TaskID, last, context.Cause(ctx))
		case <-time.After(poll):
		}
	}
}
