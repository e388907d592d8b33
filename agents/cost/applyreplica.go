package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// ReplicaApplied is what applying an add_replica or remove_replica
// recommendation did.
type ReplicaApplied struct {
	// RecommendationID is the recommendation.
	RecommendationID int64 `json:"recommendation_id"`
	// Kind is add_replica or remove_replica.
	Kind string `json:"kind"`
	// ReplicaID is the replica created or removed; Status its state
	// (creating or ready after add_replica, deleted after remove_replica).
	ReplicaID string          `json:"replica_id"`
	Status    provider.Status `json:"status"`
	// Applied is true once the recommendation is marked applied: the
	// replica is ready, or deleted. An RDS replica takes minutes: apply
	// again to record it ready.
	Applied bool `json:"applied"`
}

// isReplicaKind reports the kinds ApplyReplica applies.
func isReplicaKind(kind string) bool { return kind == KindAddReplica || kind == KindRemoveReplica }

// ApplyReplica applies the open add_replica or remove_replica
// recommendation id through prov, which must be the provider of the
// recommendation's instance. add_replica asks the provider for the read
// replica named in the evidence (CreateReadReplica: idempotent) and
// records it as a catalog entry of its instance; the recommendation is
// marked applied once the replica is ready, and stays open while it is
// being created (apply again to refresh). remove_replica deletes the
// replica through the provider (idempotent) and removes its catalog entry,
// then marks the recommendation applied.
func ApplyReplica(ctx context.Context, store *controlplane.Store, prov provider.Provider, id int64) (ReplicaApplied, error) {
	rec, err := store.GetRecommendation(ctx, id)
	if err != nil {
		return ReplicaApplied{}, err
	}
	if rec.Status != controlplane.RecommendationOpen {
		return ReplicaApplied{}, fmt.Errorf("%w: %d is %s", controlplane.ErrRecommendationNotOpen, id, rec.Status)
	}
	if !isReplicaKind(rec.Kind) {
		return ReplicaApplied{}, fmt.Errorf("%w: %d is %s, not a replica kind", ErrNotApplicable, id, rec.Kind)
	}
	if prov == nil {
		return ReplicaApplied{}, fmt.Errorf("%w: %d: no provider to apply it with", ErrNotApplicable, id)
	}
	var ev ReplicaEvidence
	if err := json.Unmarshal(rec.Evidence, &ev); err != nil {
		return ReplicaApplied{}, fmt.Errorf("%w: %d: evidence: %w", ErrNotApplicable, id, err)
	}
	// Evidence is the agent's own, but it is stored data: check it again.
	if provider.ValidateID(ev.InstanceID) != nil || provider.ValidateID(ev.ReplicaID) != nil || ev.ReplicaID == ev.InstanceID {
		return ReplicaApplied{}, fmt.Errorf("%w: %d: evidence names no valid instance and replica", ErrNotApplicable, id)
	}
	inst, err := store.GetInstance(ctx, ev.InstanceID)
	if err != nil {
		return ReplicaApplied{}, err
	}
	if inst.Provider != prov.Name() {
		return ReplicaApplied{}, fmt.Errorf("%w: %d: instance %s is on provider %s, not %s", ErrNotApplicable, id, inst.ID, inst.Provider, prov.Name())
	}
	out := ReplicaApplied{RecommendationID: id, Kind: rec.Kind, ReplicaID: ev.ReplicaID}
	if rec.Kind == KindRemoveReplica {
		return out, removeReplica(ctx, store, prov, rec, inst, ev, &out)
	}
	rep, err := prov.CreateReadReplica(ctx, inst.ProviderRef, ev.ReplicaID)
	if err != nil {
		return out, fmt.Errorf("cost: apply %d: %w", id, err)
	}
	row, err := store.CreateReplica(ctx, controlplane.Replica{ID: ev.ReplicaID, InstanceID: inst.ID, ProviderRef: rep.ProviderRef,
		Host: rep.Host, Port: rep.Port, Status: rep.Status, StatusReason: rep.StatusReason})
	if errors.Is(err, controlplane.ErrReplicaExists) {
		row, err = store.GetReplica(ctx, ev.ReplicaID)
		if err == nil && row.InstanceID != inst.ID {
			return out, fmt.Errorf("%w: %d: replica %s belongs to instance %s", ErrNotApplicable, id, row.ID, row.InstanceID)
		}
		if err == nil {
			row, err = store.UpdateReplica(ctx, ev.ReplicaID, rep)
		}
	}
	if err != nil {
		return out, err
	}
	out.Status = row.Status
	switch row.Status {
	case provider.StatusReady:
		if _, err := store.SetRecommendationStatus(ctx, id, controlplane.RecommendationApplied,
			"replica "+row.ID+" ready", nil); err != nil {
			return out, err
		}
		out.Applied = true
	default:
		if err := store.SetRecommendationReason(ctx, id, "replica "+row.ID+" "+string(row.Status)+"; apply again to record it ready"); err != nil {
			return out, err
		}
	}
	return out, nil
}

func removeReplica(ctx context.Context, store *controlplane.Store, prov provider.Provider, rec controlplane.Recommendation,
	inst controlplane.Instance, ev ReplicaEvidence, out *ReplicaApplied) error {
	row, err := store.GetReplica(ctx, ev.ReplicaID)
	switch {
	case errors.Is(err, controlplane.ErrReplicaNotFound):
		// Already removed (an earlier apply stopped before marking it).
	case err != nil:
		return err
	case row.InstanceID != inst.ID:
		return fmt.Errorf("%w: %d: replica %s belongs to instance %s", ErrNotApplicable, rec.ID, row.ID, row.InstanceID)
	default:
		if err := prov.Delete(ctx, row.ProviderRef); err != nil {
			return fmt.Errorf("cost: apply %d: %w", rec.ID, err)
		}
		if err := store.DeleteReplica(ctx, row.ID); err != nil && !errors.Is(err, controlplane.ErrReplicaNotFound) {
			return err
		}
	}
	out.Status, out.Applied = provider.StatusDeleted, true
	_, err = store.SetRecommendationStatus(ctx, rec.ID, controlplane.RecommendationApplied, "replica "+ev.ReplicaID+" removed", nil)
	return err
}
