// Package audit is the fleet's audit vocabulary: the entry agents record
// of who asked for what, on which tenant and ticket, and what came of it,
// and the outcomes they share. The audit_log table itself belongs to
// infra/controlplane (Store.RecordAudit); Record is that method for
// callers holding a transaction rather than a Store. Agents write an entry
// in the same transaction as the change they record when they can, so the
// log never claims what did not happen.
package audit

import (
	"context"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Outcomes shared by the agents. Any short word is accepted; these keep the
// common ones uniform.
const (
	// OutcomeAccepted: a request was stored and will be acted on.
	OutcomeAccepted = "accepted"
	// OutcomeDuplicate: a request repeated one already stored; nothing new.
	OutcomeDuplicate = "duplicate"
	// OutcomeDone: the work finished.
	OutcomeDone = "done"
	// OutcomeFailed: the work failed for good.
	OutcomeFailed = "failed"
)

// Entry is one audit record (see controlplane.AuditEntry).
type Entry = controlplane.AuditEntry

// ErrInvalidEntry marks an entry missing a required field.
var ErrInvalidEntry = controlplane.ErrInvalidAuditEntry

// Execer is what Record writes through: the control-plane pool or a
// transaction on it.
type Execer = controlplane.DB

// Record appends e to the audit log through db: the pool, or the
// transaction of the change it records.
func Record(ctx context.Context, db Execer, e Entry) error {
	return controlplane.NewStore(db).RecordAudit(ctx, e)
}
