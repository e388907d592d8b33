package tenants

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// PublishDrain asks every process of fleet whose Pools were started with
// Redis to reset its pools of instanceID (what Pools.Drain does, for a
// caller that holds no Pools: the health agent's pool watch).
func PublishDrain(ctx context.Context, rdb redis.UniversalClient, fleet, instanceID string) error {
	if err := ValidateFleet(fleet); err != nil {
		return err
	}
	if err := rdb.Publish(ctx, DrainChannel(fleet), instanceID).Err(); err != nil {
		return fmt.Errorf("tenants: publish drain of %s: %w", instanceID, err)
	}
	return nil
}

// StatsKeyPattern matches the keys of every process's published
// statistics of fleet (StatsKey), for SCAN.
func StatsKeyPattern(fleet string) string { return StatsKey(fleet, "*") }
