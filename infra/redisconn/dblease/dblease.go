// Package dblease lends Redis databases 1 to 15 of a server, one user at a
// time, to whatever cannot prefix its keys (Asynq's queues): the tests
// (cptest.RedisDB) and fleetbench's in-process fleets. A lease is a key per
// database in database 0, set with SET NX and a TTL, so a crashed holder
// gives its database back when the TTL runs out. Database 0 holds only the
// leases.
package dblease

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

// ErrNoneFree means every database from 1 to 15 is leased.
var ErrNoneFree = errors.New("dblease: no free redis database (1-15) to lease")

// keyPrefix names the lease keys in database 0: keyPrefix + "<db>".
const keyPrefix = "tenantfleet:test:redisdb:"

// Lease is one leased database, emptied when taken.
type Lease struct {
	// DB is the database number, 1 to 15.
	DB int
	// URL is the database's URL (the server's URL with path /DB), for child
	// processes.
	URL string
	// Client is a client of the leased database; Release closes it.
	Client *redis.Client

	target *redisconn.Target
	key    string
	owner  string
}

// Acquire leases the first free database of the server rc names to owner
// for ttl and empties it. It answers ErrNoneFree when all are leased.
func Acquire(ctx context.Context, rc redisconn.Config, owner string, ttl time.Duration) (*Lease, error) {
	target, err := redisconn.New(rc)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rc.URL)
	if err != nil {
		return nil, errors.New("dblease: the Redis URL is not a URL net/url can rewrite")
	}
	leases := target.WithDB(0).NewClient()
	defer leases.Close()
	for db := 1; db <= 15; db++ {
		key := keyPrefix + strconv.Itoa(db)
		ok, err := leases.SetNX(ctx, key, owner, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("dblease: lease a redis database: %w", err)
		}
		if !ok {
			continue
		}
		u.Path = "/" + strconv.Itoa(db)
		l := &Lease{DB: db, URL: u.String(), Client: target.WithDB(db).NewClient(), target: target, key: key, owner: owner}
		if err := l.Client.FlushDB(ctx).Err(); err != nil {
			return nil, errors.Join(fmt.Errorf("dblease: empty leased database %d: %w", db, err), l.Release(context.WithoutCancel(ctx)))
		}
		return l, nil
	}
	return nil, ErrNoneFree
}

// Release empties the database, closes Client and drops the lease. A lease
// that expired and was taken by another owner is left alone, database and
// key: they are the new owner's.
func (l *Lease) Release(ctx context.Context) error {
	leases := l.target.WithDB(0).NewClient()
	defer leases.Close()
	holder, err := leases.Get(ctx, l.key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return errors.Join(fmt.Errorf("dblease: read lease of database %d: %w", l.DB, err), l.Client.Close())
	}
	var errs []error
	if holder == l.owner || holder == "" {
		errs = append(errs, l.Client.FlushDB(ctx).Err())
	}
	if holder == l.owner {
		errs = append(errs, leases.Del(ctx, l.key).Err())
	}
	return errors.Join(append(errs, l.Client.Close())...)
}
