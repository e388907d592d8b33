package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file owns the audit_log table (migration 00010): an append-only
// record of who asked for what, on which tenant and ticket, and what came
// of it. Agents record an entry on the Store of the transaction that makes
// the change, so the log never claims what did not happen.

// AuditEntry is one audit record.
type AuditEntry struct {
	// Actor is who asked: "jira:<account>", "api", a user name. Required.
	Actor string
	// Action is what was asked, noun.verb style ("tenant.onboard"). Required.
	Action string
	// TenantID is the tenant concerned, if any.
	TenantID string
	// Ticket is the ticket or request behind the action, if any.
	Ticket string
	// Outcome is what came of it (agents/audit names the common ones).
	// Required.
	Outcome string
	// Details carries structured context. It must never hold secrets,
	// signatures or credentials. Nil is stored as {}.
	Details map[string]any
	// At is when it happened. Default: the database's now().
	At time.Time
}

// ErrInvalidAuditEntry marks an entry missing a required field; nothing
// was recorded.
var ErrInvalidAuditEntry = errors.New("audit: invalid entry")

const insertAuditSQL = `INSERT INTO audit_log (at, actor, action, tenant_id, ticket, outcome, details)
VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7)`

// RecordAudit appends e to the audit log.
func (s *Store) RecordAudit(ctx context.Context, e AuditEntry) error {
	if e.Actor == "" || e.Action == "" || e.Outcome == "" {
		return fmt.Errorf("%w: actor, action and outcome are required", ErrInvalidAuditEntry)
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
	if _, err := s.db.Exec(ctx, insertAuditSQL, at, e.Actor, e.Action, e.TenantID, e.Ticket, e.Outcome, details); err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// AuditRecord is one stored audit entry, as ListAudit reads it.
type AuditRecord struct {
	ID int64
	AuditEntry
}

// AuditFilter selects audit entries: TenantID ("" for all) and Limit (1 to
// 500, default 50), newest first.
type AuditFilter struct {
	TenantID string
	Limit    int
}

// ListAudit returns the latest audit entries f selects, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.db.Query(ctx, `SELECT id, at, actor, action, tenant_id, ticket, outcome, details
		FROM audit_log WHERE ($1 = '' OR tenant_id = $1) ORDER BY at DESC, id DESC LIMIT $2`, f.TenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditRecord, error) {
		var a AuditRecord
		err := r.Scan(&a.ID, &a.At, &a.Actor, &a.Action, &a.TenantID, &a.Ticket, &a.Outcome, &a.Details)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}
