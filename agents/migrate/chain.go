package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// chains keeps the head of every tenant's task chain in Redis.
//
// A tenant of a run is worked on by a chain of tasks: its first task, then
// the follow-ups each task hands over to (taskid.go). The head is the id of
// the chain's newest task, written before that task is enqueued, so it is
// never behind the queue. It serves two ends:
//
//   - the reconciler can tell whether a tenant's work is still in Redis
//     (the head's task exists) or was lost (reconcile.go);
//   - one chain per tenant: a task hands over only while its chain holds
//     the head, so a chain replaced by Resume or by the reconciler ends at
//     its next hand-over instead of running beside the new one.
//
// The head is not a lock: two tasks of one tenant may still run at once
// for a moment (a replaced chain's task already running), and the
// migrator's per-tenant advisory lock and version table keep that harmless.
type chains struct {
	rdb   redis.UniversalClient
	fleet string
	ttl   time.Duration
}

// chainTTL is how long a head outlives its last write. Every hand-over
// rewrites it; a chain quiet for longer (a task in Asynq's retry backoff
// for a day) loses its head, and the reconciler starts a new chain.
const chainTTL = 24 * time.Hour

// claimScript moves the head to ARGV[1] when it is missing, already
// ARGV[1], or ARGV[2] (the head the caller follows; empty for none). It
// returns 1 when the head is ARGV[1] afterwards.
//
// KEYS[1] the tenant's head; ARGV[3] ttl in ms.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and cur ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`)

func newChains(rdb redis.UniversalClient, fleet string) *chains {
	return &chains{rdb: rdb, fleet: fleet, ttl: chainTTL}
}

// headKey is the Redis key of a tenant's head within a run.
func headKey(fleet string, runID int64, tenantID string) string {
	return fleet + ":migrate:head:" + strconv.FormatInt(runID, 10) + ":" + tenantID
}

// claim makes next the tenant's head if no chain holds the tenant, or the
// chain holding it is the caller's (its head is from, or next already).
// It reports whether next is the head.
func (c *chains) claim(ctx context.Context, runID int64, tenantID, next, from string) (bool, error) {
	n, err := claimScript.Run(ctx, c.rdb, []string{headKey(c.fleet, runID, tenantID)},
		next, from, c.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("migrate: run %d tenant %s: claim task chain: %w", runID, tenantID, err)
	}
	return n == 1, nil
}

// replace makes next the tenant's head whatever chain held it.
func (c *chains) replace(ctx context.Context, runID int64, tenantID, next string) error {
	if err := c.rdb.Set(ctx, headKey(c.fleet, runID, tenantID), next, c.ttl).Err(); err != nil {
		return fmt.Errorf("migrate: run %d tenant %s: replace task chain: %w", runID, tenantID, err)
	}
	return nil
}

// heads returns the heads of the tenants of a run, "" where there is none,
// in one pipeline (not MGET: the keys may live on different cluster slots).
func (c *chains) heads(ctx context.Context, runID int64, tenantIDs []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(tenantIDs))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range tenantIDs {
			cmds[i] = p.Get(ctx, headKey(c.fleet, runID, id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("migrate: run %d: read task chains: %w", runID, err)
	}
	out := make([]string, len(cmds))
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("migrate: run %d: read task chains: %w", runID, err)
		}
		out[i] = v
	}
	return out, nil
}
