package migrate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// semaphore is a fleet-wide counting semaphore per instance: a Redis sorted
// set whose members are lease ids scored by their expiry (Redis server
// time, in milliseconds), so clocks of the workers do not matter and a
// worker that dies frees its slot when the lease expires.
type semaphore struct {
	rdb   redis.UniversalClient
	fleet string
	ttl   time.Duration

	mu    sync.Mutex
	wakes map[string]chan struct{} // instance -> closed when this process frees a slot
}

// acquireScript takes or extends a slot: it drops expired leases, extends
// the lease when it is held, else adds it when fewer than the limit are
// held. It returns 1 when the lease is held afterwards.
//
// KEYS[1] the instance's set; ARGV[1] lease id, ARGV[2] limit, ARGV[3] ttl
// in ms.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0
`)

func newSemaphore(rdb redis.UniversalClient, fleet string, ttl time.Duration) *semaphore {
	return &semaphore{rdb: rdb, fleet: fleet, ttl: ttl, wakes: map[string]chan struct{}{}}
}

// SemaphoreKey is the Redis key of an instance's migration semaphore.
func SemaphoreKey(fleet, instanceID string) string {
	return fleet + ":migrate:sem:" + instanceID
}

// try takes or extends the lease on instance, if a slot is free.
func (s *semaphore) try(ctx context.Context, instance, lease string, limit int) (bool, error) {
	n, err := acquireScript.Run(ctx, s.rdb, []string{SemaphoreKey(s.fleet, instance)},
		lease, limit, s.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("migrate: semaphore %s: %w", instance, err)
	}
	return n == 1, nil
}

// acquire waits up to wait for a slot, polling Redis every poll and waking
// at once when this process frees a slot of the instance.
func (s *semaphore) acquire(ctx context.Context, instance, lease string, limit int, wait, poll time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		wake := s.wakeChan(instance)
		ok, err := s.try(ctx, instance, lease, limit)
		if ok || err != nil {
			return ok, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		timer := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, ctx.Err()
		case <-wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// release gives the slot back and wakes this process's waiters.
func (s *semaphore) release(ctx context.Context, instance, lease string) error {
	err := s.rdb.ZRem(ctx, SemaphoreKey(s.fleet, instance), lease).Err()
	s.mu.Lock()
	if ch, ok := s.wakes[instance]; ok {
		close(ch)
		delete(s.wakes, instance)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("migrate: release semaphore %s: %w", instance, err)
	}
	return nil
}

func (s *semaphore) wakeChan(instance string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.wakes[instance]
	if !ok {
		ch = make(chan struct{})
		s.wakes[instance] = ch
	}
	return ch
}

// keep refreshes the lease every ttl/3 until ctx ends. When the lease is
// lost and cannot be taken back (its slot went to another worker while
// Redis was unreachable), it calls lost, which cancels the migration so the
// cap holds.
func (s *semaphore) keep(ctx context.Context, instance, lease string, limit int, lost func(error)) {
	ticker := time.NewTicker(s.ttl / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			ok, err := s.try(ctx, instance, lease, limit)
			if ctx.Err() != nil {
				return
			}
			if err == nil && !ok {
				lost(fmt.Errorf("migrate: lease on instance %s lost to another worker", instance))
				return
			}
		}
	}
}
