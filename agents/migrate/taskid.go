package migrate

import (
	"strconv"
	"strings"

	"github.com/tenantfleet/tenantfleet/queue"
)

// Task ids. Every migrate:tenant task has a deterministic id, so an enqueue
// that is repeated (a retried API call, a handler re-run after a crash)
// collapses into the task already there:
//
//	migrate:<run>:<tenant>            the first task of the tenant
//	...:r<n>                          the n-th Retry of the run re-running it
//	...:x<n>                          the n-th Resume of the run
//	...:c<ms>                         a chain the reconciler started for a
//	                                  tenant whose chain head Redis lost
//	                                  (ms: the pass's start, Unix ms)
//	...:h<n>                          the n-th hand-over: a task that must
//	                                  wait (busy instance, no free slot, a
//	                                  transient failure) enqueues its
//	                                  follow-up and returns
//
// A task's follow-up id is derived from its own id, so a handler re-run
// after a crash hands over to the same follow-up. Redis keeps the id of
// each tenant's newest task, its chain head (chain.go), which the
// reconciler checks and a hand-over must hold.

// taskID is the id of a tenant's task in round round after resume resume.
func taskID(runID int64, tenantID string, round, resume int) string {
	id := queue.MigrateTaskID(runID, tenantID)
	if round > 0 {
		id += ":r" + strconv.Itoa(round)
	}
	if resume > 0 {
		id += ":x" + strconv.Itoa(resume)
	}
	return id
}

// nextHop returns the id of the follow-up of the task with id current.
// Tenant ids contain no ':', so ":h" only ever starts the hop suffix.
func nextHop(current string) string {
	hop := 0
	if i := strings.LastIndex(current, ":h"); i >= 0 {
		if n, err := strconv.Atoi(current[i+2:]); err == nil {
			hop, current = n, current[:i]
		}
	}
	return current + ":h" + strconv.Itoa(hop+1)
}
