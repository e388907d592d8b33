package cost

import (
	"context"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Dismiss marks an open recommendation dismissed, recording who did it in
// its status reason: `fleet cost dismiss` and POST
// /api/v1/recommendations/{id}/dismiss both call it.
// controlplane.ErrRecommendationNotFound for an unknown id,
// controlplane.ErrRecommendationNotOpen for one applied or dismissed.
func Dismiss(ctx context.Context, store *controlplane.Store, id int64, by string) (controlplane.Recommendation, error) {
	if by == "" {
		by = "unknown"
	}
	return store.SetRecommendationStatus(ctx, id, controlplane.RecommendationDismissed, "dismissed by "+by, nil)
}

// Dismiss is the package's Dismiss with a's store.
func (a Applier) Dismiss(ctx context.Context, id int64, by string) (controlplane.Recommendation, error) {
	return Dismiss(ctx, a.Store, id, by)
}
