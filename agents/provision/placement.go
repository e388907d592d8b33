package provision

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// SharedInstanceID is the id of the n-th shared instance (1-based):
// "001-shared". It starts with a digit, so it never equals a tenant id,
// which is the id of the tenant's dedicated instance.
func SharedInstanceID(n int) string { return fmt.Sprintf("%03d-shared", n) }

// placementLockKey serialises shared placements: counting an instance's
// tenants and placing one more happen under it, so two onboardings racing
// for the last slot never overfill an instance, and at most one next
// instance is asked for at a time.
const placementLockKey = "tenantfleet/provision/placement"

type candidate struct {
	id, database string
	capacity     provider.Capacity
}

// placement is the outcome of one placement attempt: the instance the
// tenant is on, or the instance being created that it waits for.
type placement struct {
	placed  string // instance id the tenant is placed on
	waitFor string // instance id being created, when not placed
}

// placeShared places a shared tenant in one control-plane transaction: on
// the least-filled ready shared instance below the capacity threshold, else
// on the least-filled one the tenant still fits in (never past 100%). When
// the placement takes the instance to the threshold, or nothing fits, it
// makes sure the next shared instance is being created.
func (a *Agent) placeShared(ctx context.Context, tenant controlplane.Tenant, names tenants.Names) (placement, error) {
	usage := a.measureShared(ctx)
	var (
		out      placement
		create   string
		inserted bool
	)
	err := a.cfg.Catalog.Tx(ctx, func(tx *controlplane.Store) error {
		out, create, inserted = placement{}, "", false
		if err := tx.Lock(ctx, placementLockKey); err != nil {
			return err
		}
		current, err := tx.LockTenant(ctx, tenant.ID)
		if err != nil {
			return err
		}
		if current.InstanceID != "" {
			out.placed = current.InstanceID
			return nil
		}
		loads, err := tx.LockSharedLoads(ctx)
		if err != nil {
			return err
		}
		cands := make([]candidate, len(loads))
		for i, l := range loads {
			cands[i] = candidate{id: l.ID, database: l.Database, capacity: provider.CapacityOf(
				provider.Instance{MaxConnections: l.MaxConnections, StorageBytes: l.StorageBytes},
				usage[l.ID], l.Tenants, l.MaxTenants)}
		}
		best, needNext := choose(cands, a.cfg.CapacityThreshold)
		if best != nil {
			out.placed = best.id
			// In the placement transaction: the count and the placement
			// commit together.
			if _, err := tx.SetTenantPlacement(ctx, tenant.ID, controlplane.Placement{
				InstanceID: best.id, Database: best.database, Schema: names.Schema, Role: names.Role,
			}); err != nil {
				return err
			}
		}
		if !needNext {
			return nil
		}
		create, inserted, err = a.ensureNextShared(ctx, tx)
		out.waitFor = create
		return err
	})
	if err != nil {
		return placement{}, fmt.Errorf("provision: place %s: %w", tenant.ID, err)
	}
	switch {
	case inserted:
		a.startInstance(ctx, create)
	case create != "":
		// Another placement asked for it: make sure its task exists (a
		// duplicate when it does).
		if err := a.enqueueCreate(ctx, create); err != nil {
			return placement{}, err
		}
	}
	if out.placed != "" {
		out.waitFor = ""
	}
	return out, nil
}

// choose picks the instance for one more tenant: the least-filled below
// threshold, else the least-filled that stays at or under 100% with it.
// needNext says the next instance should be created: the pick reaches the
// threshold with the new tenant, or nothing fits.
func choose(cands []candidate, threshold float64) (best *candidate, needNext bool) {
	for i := range cands {
		c := &cands[i]
		if c.capacity.Exceeds(threshold) {
			continue
		}
		if best == nil || c.capacity.Ratio() < best.capacity.Ratio() {
			best = c
		}
	}
	if best == nil {
		for i := range cands {
			c := &cands[i]
			after := c.capacity
			after.Tenants++
			if after.Ratio() > 1 {
				continue
			}
			if best == nil || c.capacity.Ratio() < best.capacity.Ratio() {
				best = c
			}
		}
	}
	if best == nil {
		return nil, true
	}
	after := best.capacity
	after.Tenants++
	return best, after.Exceeds(threshold)
}

// ensureNextShared returns the shared instance being created, inserting
// the row of the next one when there is none (inserted). The caller holds
// the placement lock.
func (a *Agent) ensureNextShared(ctx context.Context, tx *controlplane.Store) (id string, inserted bool, err error) {
	id, ok, err := tx.CreatingShared(ctx)
	if err != nil || ok {
		return id, false, err
	}
	n, err := tx.CountShared(ctx)
	if err != nil {
		return "", false, err
	}
	for {
		n++
		id = SharedInstanceID(n)
		inserted, err = tx.RequestInstance(ctx, controlplane.InstanceRequest{
			ID: id, Provider: a.cfg.Provider.Name(), Tier: tenants.Shared, MaxTenants: a.cfg.MaxTenants,
		})
		if err != nil {
			return "", false, err
		}
		if inserted {
			queue.Logger(ctx).InfoContext(ctx, "next shared instance requested", slog.String("instance", id))
			return id, true, nil
		}
	}
}

// startInstance starts creating instance id inline (the provider returns
// at once; a ready local instance is finished right here). When that
// fails, or leaves it creating, instance:create and instance:check take
// over from the queue.
func (a *Agent) startInstance(ctx context.Context, id string) {
	if err := a.createInstance(ctx, id, false); err != nil {
		queue.Logger(ctx).WarnContext(ctx, "inline instance create failed, queued", slog.String("instance", id), slog.Any("error", err))
		if err := a.enqueueCreate(ctx, id); err != nil {
			queue.Logger(ctx).WarnContext(ctx, "queue instance:create", slog.String("instance", id), slog.Any("error", err))
		}
	}
}

// measureShared asks the provider for the usage of the ready shared
// instances, when it can measure it; failures leave an instance's usage
// unknown (zero), so tenants count alone.
func (a *Agent) measureShared(ctx context.Context) map[string]provider.Usage {
	rep, ok := a.cfg.Provider.(provider.UsageReporter)
	if !ok {
		return nil
	}
	insts, err := a.cfg.Catalog.ListInstances(ctx, controlplane.InstanceFilter{Tier: tenants.Shared, Status: provider.StatusReady})
	if err != nil {
		return nil
	}
	out := make(map[string]provider.Usage, len(insts))
	for _, inst := range insts {
		if inst.ProviderRef == "" {
			continue
		}
		u, err := rep.Usage(ctx, inst.ProviderRef)
		if err != nil {
			queue.Logger(ctx).WarnContext(ctx, "instance usage unknown", slog.String("instance", inst.ID), slog.Any("error", err))
			continue
		}
		out[inst.ID] = u
	}
	return out
}

// placeDedicated gives the tenant its own instance (id: the tenant id),
// asking the provider for it when the row is new.
func (a *Agent) placeDedicated(ctx context.Context, tenant controlplane.Tenant) (placement, error) {
	var inserted bool
	err := a.cfg.Catalog.Tx(ctx, func(tx *controlplane.Store) error {
		var err error
		inserted, err = tx.RequestInstance(ctx, controlplane.InstanceRequest{
			ID: tenant.ID, Provider: a.cfg.Provider.Name(), Tier: tenants.Dedicated, MaxTenants: 1,
		})
		if err != nil {
			return err
		}
		_, err = tx.PlaceOnOwnInstance(ctx, tenant.ID)
		return err
	})
	if err != nil {
		return placement{}, fmt.Errorf("provision: place %s on its own instance: %w", tenant.ID, err)
	}
	inst, err := a.cfg.Catalog.GetInstance(ctx, tenant.ID)
	if err != nil {
		return placement{}, err
	}
	if inst.Tier != tenants.Dedicated {
		return placement{}, fmt.Errorf("%w: instance %s is not dedicated", ErrPermanent, inst.ID)
	}
	if inst.Status == provider.StatusCreating {
		if inserted {
			a.startInstance(ctx, inst.ID)
		} else if err := a.enqueueCreate(ctx, inst.ID); err != nil {
			return placement{}, err
		}
		if inst, err = a.cfg.Catalog.GetInstance(ctx, tenant.ID); err != nil {
			return placement{}, err
		}
		if inst.Status != provider.StatusCreating {
			return placement{placed: inst.ID}, nil
		}
		return placement{waitFor: inst.ID}, nil
	}
	return placement{placed: inst.ID}, nil
}

// place returns the ready instance the tenant is placed on, waiting up to
// Config.PlacementWait for one being created; past that it fails with
// ErrWaitingForInstance (retryable: instance:create wakes the onboarding).
func (a *Agent) place(ctx context.Context, tenant controlplane.Tenant, names tenants.Names) (controlplane.Instance, error) {
	deadline := time.Now().Add(a.cfg.PlacementWait)
	for {
		var (
			p   placement
			err error
		)
		if tenant.Tier == tenants.Dedicated {
			p, err = a.placeDedicated(ctx, tenant)
		} else {
			p, err = a.placeShared(ctx, tenant, names)
		}
		if err != nil {
			return controlplane.Instance{}, err
		}
		id := p.placed
		if id == "" {
			id = p.waitFor
		}
		inst, err := a.await(ctx, id, deadline)
		if err != nil {
			return controlplane.Instance{}, err
		}
		switch {
		case inst.Status == provider.StatusReady && p.placed != "":
			return inst, nil
		case inst.Status == provider.StatusReady:
			continue // the instance waited for is ready: place again
		case inst.Status == provider.StatusCreating:
			return controlplane.Instance{}, fmt.Errorf("%w: %s", ErrWaitingForInstance, inst.ID)
		case tenant.Tier == tenants.Dedicated || p.placed != "":
			return controlplane.Instance{}, fmt.Errorf("%w: instance %s is %s: %s", ErrPermanent, inst.ID, inst.Status, inst.StatusReason)
		default:
			// The shared instance waited for failed: the next placement
			// asks for another one.
			if time.Now().After(deadline) {
				return controlplane.Instance{}, fmt.Errorf("%w: instance %s failed: %s", ErrWaitingForInstance, inst.ID, inst.StatusReason)
			}
		}
	}
}

// await reads instance id until it is no longer creating or deadline
// passes, and returns it as last read.
func (a *Agent) await(ctx context.Context, id string, deadline time.Time) (controlplane.Instance, error) {
	for {
		inst, err := a.cfg.Catalog.GetInstance(ctx, id)
		if err != nil || inst.Status != provider.StatusCreating || !time.Now().Before(deadline) {
			return inst, err
		}
		select {
		case <-ctx.Done():
			return inst, ctx.Err()
		case <-time.After(a.cfg.PlacementPoll):
		}
	}
}
