package provision

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// withDDL runs fn with an admin pool on inst's database while holding the
// DDL lock of inst's server. Role DDL is cluster-wide (the fleet's
// application role is altered by PrepareDatabase and granted tenant roles
// by EnsureTenant), and concurrent GRANT/ALTER on one catalog row fail with
// "tuple concurrently updated", so DDL on one server is serialised. The
// lock is a transaction-level advisory lock in the control plane, keyed by
// the server's host and port (local instances share one server).
func (a *Agent) withDDL(ctx context.Context, inst controlplane.Instance, fn func(ctx context.Context, admin *pgxpool.Pool) error) error {
	admin, err := a.cfg.Sessions.Admin(ctx, inst)
	if err != nil {
		return err
	}
	key := "tenantfleet/provision/ddl/" + inst.Host + ":" + strconv.Itoa(inst.Port)
	return a.cfg.Catalog.Tx(ctx, func(tx *controlplane.Store) error {
		if err := tx.Lock(ctx, key); err != nil {
			return fmt.Errorf("provision: ddl lock of %s: %w", inst.ID, err)
		}
		return fn(ctx, admin)
	})
}

// prepare readies inst's tenant database (tenants.PrepareDatabase) unless
// the control plane records it done, and records it.
func (a *Agent) prepare(ctx context.Context, inst controlplane.Instance) error {
	prepared, err := a.cfg.Catalog.InstancePrepared(ctx, inst.ID)
	if err != nil {
		return err
	}
	if prepared {
		return nil
	}
	err = a.withDDL(ctx, inst, func(ctx context.Context, admin *pgxpool.Pool) error {
		return tenants.PrepareDatabase(ctx, admin, a.cfg.Fleet, inst.Database)
	})
	if err != nil {
		return fmt.Errorf("provision: prepare instance %s: %w", inst.ID, err)
	}
	return a.cfg.Catalog.MarkInstancePrepared(ctx, inst.ID)
}
