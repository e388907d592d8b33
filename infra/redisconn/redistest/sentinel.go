package redistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelOptions configures a group of sentinels monitoring one master.
type SentinelOptions struct {
	// Master is the server to monitor. Required.
	Master *Server
	// MasterName is the name the sentinels know the master by. Default
	// "mymaster".
	MasterName string
	// Count is how many sentinels to start. Default 3.
	Count int
	// Quorum is how many must agree the master is down. Default a majority.
	Quorum int
	// MasterPassword is the data nodes' password (sentinel auth-pass).
	MasterPassword string
	// Password is the sentinels' own requirepass, which they also use with
	// each other. Default empty: none.
	Password string
	// DownAfter is how long the master must be unreachable before it is
	// considered down. Default 1s.
	DownAfter time.Duration
	// TLS serves TLS only and talks TLS to the data nodes and the other
	// sentinels. Default nil: plain TCP.
	TLS *Certs
}

// StartSentinels fills the defaults of o, runs the sentinels and waits
// until each knows the master's replicas and every other sentinel, so
// that a failover can be agreed on.
func StartSentinels(t testing.TB, o *SentinelOptions) []*Server {
	t.Helper()
	if o.MasterName == "" {
		o.MasterName = "mymaster"
	}
	if o.Count == 0 {
		o.Count = 3
	}
	if o.Quorum == 0 {
		o.Quorum = o.Count/2 + 1
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	sentinels := make([]*Server, 0, o.Count)
	for range o.Count {
		dir := t.TempDir()
		sentinels = append(sentinels, startProcess(t, dir, "redis-sentinel", "+monitor master", func(port int) string {
			var b strings.Builder
			fmt.Fprintf(&b, "bind 127.0.0.1\ndir %s\nlogfile %s\n", dir, filepath.Join(dir, "redis.log"))
			if o.TLS != nil {
				fmt.Fprintf(&b, "port 0\ntls-port %d\n", port)
				writeTLS(&b, o.TLS)
			} else {
				fmt.Fprintf(&b, "port %d\n", port)
			}
			fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d %d\n", o.MasterName, o.Master.Port, o.Quorum)
			fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", o.MasterName, o.DownAfter.Milliseconds())
			fmt.Fprintf(&b, "sentinel failover-timeout %s %d\n", o.MasterName, 10*o.DownAfter.Milliseconds())
			fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", o.MasterName)
			if o.MasterPassword != "" {
				fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", o.MasterName, quote(o.MasterPassword))
			}
			if o.Password != "" {
				fmt.Fprintf(&b, "requirepass %s\nsentinel sentinel-pass %s\n", quote(o.Password), quote(o.Password))
			}
			return b.String()
		}))
	}
	waitSentinelsAgree(t, sentinels, *o)
	return sentinels
}

// SentinelClient returns a client of one sentinel, closed when the test
// ends.
func SentinelClient(t testing.TB, s *Server, o SentinelOptions) *redis.SentinelClient {
	t.Helper()
	opts := &redis.Options{Addr: s.Addr(), Password: o.Password}
	if o.TLS != nil {
		opts.TLSConfig = o.TLS.ClientTLS(t)
	}
	c := redis.NewSentinelClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitSentinelsAgree(t testing.TB, sentinels []*Server, o SentinelOptions) {
	t.Helper()
	replicas := 0
	if o.Master != nil {
		replicas = o.Master.replicasWanted
	}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range sentinels {
		c := SentinelClient(t, s, o)
		for {
			others, err1 := c.Sentinels(ctx, o.MasterName).Result()
			known, err2 := c.Replicas(ctx, o.MasterName).Result()
			if err1 == nil && err2 == nil && len(others) == len(sentinels)-1 && len(known) >= replicas {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: sentinel %s knows %d sentinels and %d replicas within 30s, want %d and %d (errors %v, %v)\n%s",
					s.Addr(), len(others), len(known), len(sentinels)-1, replicas, err1, err2, s.logTail())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// MasterAddr asks a sentinel which address it holds for the master now.
func MasterAddr(ctx context.Context, c *redis.SentinelClient, masterName string) (string, error) {
	hp, err := c.GetMasterAddrByName(ctx, masterName).Result()
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("redistest: unexpected master address %v", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// WaitReplicaSynced waits until replica reports its link to the master up.
func WaitReplicaSynced(t testing.TB, replica *Server, password string, tlsCerts *Certs) {
	t.Helper()
	opts := &redis.Options{Addr: replica.Addr(), Password: password}
	if tlsCerts != nil {
		opts.TLSConfig = tlsCerts.ClientTLS(t)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s not in sync within 30s (%v)\n%s", replica.Addr(), err, replica.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ClientTLS returns a client TLS configuration trusting the test CA and
// presenting the client certificate.
func (c Certs) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatalf("redistest: read CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
	if err != nil {
		t.Fatalf("redistest: load client certificate: %v", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// Group is a private Sentinel deployment: a password-protected master, one
// replica and three password-protected sentinels, with the FLEET_REDIS_URL
// that reaches it (database 0).
type Group struct {
	Master, Replica *Server
	Sentinels       []*Server
	Options         SentinelOptions
	// URL is redis-sentinel://:<data password>@<sentinels>/0?master=mymaster&sentinel_password=<password>.
	URL string
}

// Passwords of a Group's data nodes and sentinels.
const (
	GroupDataPassword     = "data-pass-3"
	GroupSentinelPassword = "sentinel-pass-4"
)

// StartGroup starts a Group and waits until the replica is in sync and the
// sentinels know each other and the replica.
func StartGroup(t testing.TB) *Group {
	t.Helper()
	g := &Group{Master: Start(t, Options{Password: GroupDataPassword})}
	g.Replica = Start(t, Options{Password: GroupDataPassword, ReplicaOf: g.Master})
	WaitReplicaSynced(t, g.Replica, GroupDataPassword, nil)
	g.Options = SentinelOptions{Master: g.Master, MasterPassword: GroupDataPassword, Password: GroupSentinelPassword}
	g.Sentinels = StartSentinels(t, &g.Options)
	addrs := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		addrs[i] = s.Addr()
	}
	g.URL = fmt.Sprintf("redis-sentinel://:%s@%s/0?master=%s&sentinel_password=%s",
		GroupDataPassword, strings.Join(addrs, ","), g.Options.MasterName, GroupSentinelPassword)
	return g
}

// WaitPromoted waits until a sentinel names the replica as the master.
func (g *Group) WaitPromoted(t testing.TB) {
	t.Helper()
	sc := SentinelClient(t, g.Sentinels[0], g.Options)
	deadline := time.Now().Add(60 * time.Second)
	for {
		addr, err := MasterAddr(context.Background(), sc, g.Options.MasterName)
		if err == nil && addr == g.Replica.Addr() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the sentinels did not promote the replica within 60s (master now %q, %v)\nsentinel:\n%s\nreplica:\n%s",
				addr, err, g.Sentinels[0].logTail(), g.Replica.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
