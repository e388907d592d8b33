// Package audit writes the fleet's audit log: an append-only record in the
// control plane of who asked for what, on which tenant and ticket, and what
// came of it. Agents write an entry in the same transaction as the change
// they record when they can, so the log never claims what did not happen.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// Entry is one audit record.
type Entry struct {
	// Actor is who asked: "jira:<account>", "api", a user name. Required.
	Actor string
	// Action is what was asked, noun.verb style ("tenant.onboard"). Required.
	Action string
	// TenantID is the tenant concerned, if any.
	TenantID string
	// Ticket is the ticket or request behind the action, if any.
	Ticket string
	// Outcome is what came of it (see the Outcome constants). Required.
	Outcome string
	// Details carries structured context. It must never hold secrets,
	// signatures or credentials. Nil is stored as {}.
	Details map[string]any
	// At is when it happened. Default: the database's now().
	At time.Time
}

// ErrInvalidEntry marks an entry missing a required field.
var ErrInvalidEntry = errors.New("audit: invalid entry")

// Execer is what Record writes through: a pool, a connection or a
// transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const insertSQL = `INSERT INTO audit_log (at, actor, action, tenant_id, ticket, outcome, details)
VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7)`

// Record appends e to the audit log through db.
func Record(ctx context.Context, db Execer, e Entry) error {
	if e.Actor == "" || e.Action == "" || e.Outcome == "" {
		return fmt.Errorf("%w: actor, action and outcome are required", ErrInvalidEntry)
	}
	details := []byte("{}")
	if len(e.Details) > 0 {
		var err error
		if details, err = json.Marshal(e.Details); err != nil {
			return fmt.Errorf("audit: encode details: %w", err)
		}
	}
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	if _, err := db.Exec(ctx, insertSQL, at, e.Actor, e.Action, e.TenantID, e.Ticket, e.Outcome, details); err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}
