package batch

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// ComplianceSnapshotKind is the name of the compliance snapshot job.
const ComplianceSnapshotKind = "compliance-snapshot"

// ComplianceSnapshot is the compliance snapshot job: daily by default
// (each tenant at 00:00 UTC plus its slot in minutes), it records the
// total size and exact row count of every table of the tenant's schema
// that the tenant can read, as the tenant sees them, in the control plane
// (compliance_snapshots, one set per run). It reads as the tenant through
// the job's scope, never as an admin: counting rows runs the tenant's
// row-level-security policies, which is code the tenant wrote.
func ComplianceSnapshot() Kind {
	return Kind{
		Name:   ComplianceSnapshotKind,
		Timing: Timing{Period: 24 * time.Hour, Window: 30 * time.Minute},
		Run:    snapshotTenant,
	}
}

// snapshotTablesSQL lists the tables of the transaction's first schema on
// the search path (the tenant's, as scoping sets it) that the session may
// read, with their total size. Catalog functions only: no tenant code.
const snapshotTablesSQL = `SELECT c.relname::text, pg_catalog.pg_total_relation_size(c.oid)
FROM pg_catalog.pg_class c
WHERE c.relnamespace = pg_catalog.current_schema()::regnamespace
  AND c.relkind IN ('r', 'p')
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY c.relname`

func snapshotTenant(ctx context.Context, job Job) error {
	var tables []controlplane.TableSnapshot
	// Read-write on purpose: a tenant's policies may write (an audit log),
	// and the job must not fail on them; it writes nothing itself.
	err := job.WithTenant(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tables = tables[:0]
		var schema string
		if err := tx.QueryRow(ctx, "SELECT pg_catalog.current_schema()::text").Scan(&schema); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, snapshotTablesSQL)
		if err != nil {
			return err
		}
		tables, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (controlplane.TableSnapshot, error) {
			var t controlplane.TableSnapshot
			return t, r.Scan(&t.Table, &t.SizeBytes)
		})
		if err != nil {
			return err
		}
		for i := range tables {
			q := "SELECT count(*) FROM " + pgx.Identifier{schema, tables[i].Table}.Sanitize()
			if err := tx.QueryRow(ctx, q).Scan(&tables[i].Rows); err != nil {
				return fmt.Errorf("count rows of %s: %w", tables[i].Table, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compliance snapshot: %w", err)
	}
	return job.Store.RecordComplianceSnapshot(ctx, job.RunID, job.TenantID, tables)
}
