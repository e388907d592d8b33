// Package offboard is the offboarding outbox: it takes requests to offboard
// a tenant (archive or drop its data) or to purge an offboarded one, stores
// each in the control plane (offboard_requests, through controlplane.Store)
// in the same transaction that
// marks the tenant offboarding and writes the audit entry, then enqueues its
// task under a deterministic id. A reconciler on the scheduler re-enqueues
// every request that is not finished, so a wiped Redis or a crash between
// the commit and the enqueue loses none, and marks failed a request whose
// task ended without recording an outcome (a worker killed on its last
// attempt). The provisioning agent (agents/provision) runs the tasks and
// finishes the requests through MarkDoneTx and MarkFailed. The mechanics it
// shares with the intake outbox (enqueue and record, wait, the
// reconciler's paging, the knobs) are queue/outbox's.
package offboard
