// Package redisconn is the one place that turns the fleet's Redis settings
// (FLEET_REDIS_URL and the FLEET_REDIS_*_FILE TLS files) into connections:
// go-redis clients for the fleet's own keys and the tenants package, and an
// asynq.RedisConnOpt for the Asynq client, server, inspector and Asynqmon.
//
// Three deployments are supported: one Redis server (redis://), one server
// over TLS (rediss://, verified against the system roots or
// FLEET_REDIS_CA_FILE, with an optional client certificate), and a master
// found through Redis Sentinel (redis-sentinel://, rediss-sentinel://), whose
// clients follow a failover to the promoted replica. See ParseURL for the
// forms and docs/redis.md for what the fleet keeps in Redis.
package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Config says how to reach Redis. config.Config.Redis fills it from the
// environment.
type Config struct {
	// URL is FLEET_REDIS_URL, in one of the forms of ParseURL. Required.
	URL string
	// CAFile is FLEET_REDIS_CA_FILE: a PEM file of the certificate
	// authorities that sign the servers' certificates. Default empty: the
	// system roots. Only with a TLS scheme.
	CAFile string
	// CertFile and KeyFile are FLEET_REDIS_CERT_FILE and FLEET_REDIS_KEY_FILE:
	// a PEM client certificate and its key, for servers that require one
	// (Redis's tls-auth-clients, on by default). Default empty: none. Both or
	// neither, only with a TLS scheme.
	CertFile string
	KeyFile  string
}

// Validate checks the URL and how the TLS files fit it, without reading
// the files. It reports every problem, each naming its variable, and never
// a password.
func (c Config) Validate() error {
	var errs []error
	t, err := ParseURL(c.URL)
	if err != nil {
		errs = append(errs, err)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("FLEET_REDIS_CERT_FILE and FLEET_REDIS_KEY_FILE must be set together"))
	}
	if t != nil && t.tls == nil {
		for _, f := range []struct{ key, value string }{
			{"FLEET_REDIS_CA_FILE", c.CAFile}, {"FLEET_REDIS_CERT_FILE", c.CertFile}, {"FLEET_REDIS_KEY_FILE", c.KeyFile},
		} {
			if f.value != "" {
				errs = append(errs, fmt.Errorf("%s is set but FLEET_REDIS_URL does not use TLS (rediss:// or rediss-sentinel://)", f.key))
			}
		}
	}
	return errors.Join(errs...)
}

// New validates c, reads its TLS files and returns the target. Nothing is
// dialled until a client is used.
func New(c Config) (*Target, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t, _ := ParseURL(c.URL)
	if t.tls != nil {
		if err := loadTLSFiles(t.tls, c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Target is a validated Redis deployment to connect to: one server or a
// Sentinel-monitored master, with its credentials, database and TLS
// settings. It is immutable and safe for concurrent use.
type Target struct {
	sentinel bool
	// addrs is the server's address, or the sentinels' addresses.
	addrs              []string
	masterName         string
	username, password string
	sentinelUsername   string
	sentinelPassword   string
	db                 int
	tls                *tls.Config // nil: plain TCP
}

// NewClient returns a new go-redis client of the target, which the caller
// closes. It is a redis.UniversalClient, the type the queue and tenants
// packages accept; on Sentinel it is go-redis's failover client, which asks
// the sentinels for the master, moves to the promoted replica on a
// failover and retries a failed command up to three times.
func (t *Target) NewClient() *redis.Client {
	if t.sentinel {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       t.masterName,
			SentinelAddrs:    append([]string(nil), t.addrs...),
			SentinelUsername: t.sentinelUsername,
			SentinelPassword: t.sentinelPassword,
			Username:         t.username,
			Password:         t.password,
			DB:               t.db,
			TLSConfig:        t.tls,
		})
	}
	return redis.NewClient(&redis.Options{
		Addr:      t.addrs[0],
		Username:  t.username,
		Password:  t.password,
		DB:        t.db,
		TLSConfig: t.tls,
	})
}

// ConnOpt returns the target as an asynq.RedisConnOpt, for asynq.NewServer,
// asynq.NewInspector and asynqmon.New, which make (and close) their own
// clients from it. Code that already holds a client passes it to asynq's
// ...FromRedisClient constructors instead.
func (t *Target) ConnOpt() asynq.RedisConnOpt { return connOpt{t} }

// connOpt adapts a Target to asynq.RedisConnOpt.
type connOpt struct{ t *Target }

var _ asynq.RedisConnOpt = connOpt{}

// MakeRedisClient returns a new client of the target (asynq asserts it to
// redis.UniversalClient).
func (o connOpt) MakeRedisClient() any { return o.t.NewClient() }

// DB is the target's database number.
func (t *Target) DB() int { return t.db }

// WithDB returns a copy of the target on database db.
func (t *Target) WithDB(db int) *Target {
	c := *t
	c.addrs = append([]string(nil), t.addrs...)
	c.db = db
	return &c
}

// Sentinel reports whether the target is a Sentinel-monitored master.
func (t *Target) Sentinel() bool { return t.sentinel }

// String describes the target for logs and errors, without credentials:
// "redis 127.0.0.1:6379 db 0", "rediss-sentinel master mymaster via
// h1:26379,h2:26379 db 0".
func (t *Target) String() string {
	scheme := SchemeRedis
	switch {
	case t.sentinel && t.tls != nil:
		scheme = SchemeSentinelTLS
	case t.sentinel:
		scheme = SchemeSentinel
	case t.tls != nil:
		scheme = SchemeRedisTLS
	}
	where := strings.Join(t.addrs, ",")
	if t.sentinel {
		where = "master " + strconv.Quote(t.masterName) + " via " + where
	}
	return scheme + " " + where + " db " + strconv.Itoa(t.db)
}
