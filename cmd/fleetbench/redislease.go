package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/redisconn"
)

// redisLease is one of Redis databases 1 to 15, taken with the lease scheme
// of the tests (a key per database in database 0, see cptest.RedisDB), for
// a scenario whose Asynq keys cannot be prefixed. release empties the
// database and gives it back.
type redisLease struct {
	db     int
	url    string // the leased database's URL, for child processes
	key    string
	owner  string
	leases *redis.Client // database 0
	client *redis.Client // the leased database
}

// redisLeaseTTL bounds how long a crashed scenario keeps its database.
const redisLeaseTTL = 30 * time.Minute

// leaseRedisDB leases the first free database of the server of rc for
// owner and empties it.
func leaseRedisDB(ctx context.Context, rc redisconn.Config, owner string) (*redisLease, error) {
	target, err := redisconn.New(rc)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rc.URL)
	if err != nil {
		return nil, errors.New("FLEET_REDIS_URL is not a URL")
	}
	l := &redisLease{owner: owner, leases: target.WithDB(0).NewClient()}
	for db := 1; db <= 15; db++ {
		key := "tenantfleet:test:redisdb:" + strconv.Itoa(db)
		ok, err := l.leases.SetNX(ctx, key, owner, redisLeaseTTL).Result()
		if err != nil {
			_ = l.leases.Close()
			return nil, fmt.Errorf("lease a redis database: %w", err)
		}
		if !ok {
			continue
		}
		l.db, l.key = db, key
		l.client = target.WithDB(db).NewClient()
		u.Path = "/" + strconv.Itoa(db)
		l.url = u.String()
		if err := l.client.FlushDB(ctx).Err(); err != nil {
			return nil, errors.Join(err, l.release(context.WithoutCancel(ctx)))
		}
		return l, nil
	}
	_ = l.leases.Close()
	return nil, errors.New("no free redis database (1-15) to lease")
}

// release empties the leased database, closes the clients and drops the
// lease if it is still ours.
func (l *redisLease) release(ctx context.Context) error {
	var errs []error
	if l.client != nil {
		errs = append(errs, l.client.FlushDB(ctx).Err(), l.client.Close())
	}
	if v, _ := l.leases.Get(ctx, l.key).Result(); l.key != "" && v == l.owner {
		errs = append(errs, l.leases.Del(ctx, l.key).Err())
	}
	return errors.Join(append(errs, l.leases.Close())...)
}
