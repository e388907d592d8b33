// Package pgtest starts private PostgreSQL servers for tests that need a
// server of their own: to crash and restart it, to require TLS and
// passwords, or to change its configuration. Tests that only need a
// database use cptest's scratch databases on the shared server instead.
//
// The clusters are infra/pgcluster's (initdb'd in a temporary directory,
// a free loopback port, a Unix socket the superuser postgres may always
// use without a password), stopped and removed when the test ends.
package pgtest

import (
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/pgcluster"
	"github.com/tenantfleet/tenantfleet/infra/testca"
)

// BinEnv names the environment variable that overrides where the
// PostgreSQL 15 server binaries are.
const BinEnv = pgcluster.BinEnv

// DefaultBin is where Debian's postgresql-15 package installs the server
// binaries.
const DefaultBin = pgcluster.DefaultBin

// Options configure a private cluster. The zero value is a server that
// trusts every local and loopback connection, like `initdb -A trust`.
type Options struct {
	// Settings are extra postgresql.conf settings, name to value (written
	// quoted, so any value is safe). Default none.
	Settings map[string]string
	// HBA is the whole content of pg_hba.conf. Default: trust for the Unix
	// socket and 127.0.0.1, replication from 127.0.0.1 included. Keep a
	// `local all postgres trust` line for SocketDSN to work.
	HBA string
	// TLS turns ssl on with this server certificate and key. Default nil:
	// ssl off.
	TLS *testca.Cert
	// ListenAddresses is listen_addresses. Default "127.0.0.1".
	ListenAddresses string
}

// Cluster is a running private PostgreSQL server (Port, SocketDir, URL,
// SocketDSN, Restart are pgcluster's).
type Cluster struct {
	*pgcluster.Cluster
}

// Start initdb's a cluster, starts it and stops it when the test ends. A
// missing PostgreSQL installation fails the test.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	o := pgcluster.Options{Settings: opts.Settings, HBA: opts.HBA, ListenAddresses: opts.ListenAddresses}
	if opts.TLS != nil {
		o.TLSCertPEM, o.TLSKeyPEM = opts.TLS.CertPEM, opts.TLS.KeyPEM
	}
	c, err := pgcluster.Launch(o)
	if err != nil {
		t.Fatal(err)
	}
	return stopOnCleanup(t, c)
}

// StartReplica starts a streaming replica of c (pg_basebackup -R over
// TCP; c's pg_hba.conf must allow replication from 127.0.0.1, as the
// default does) with settings added to the copied postgresql.conf, and
// stops it when the test ends. It shows in c's pg_stat_replication under
// application_name "replica".
func (c *Cluster) StartReplica(t testing.TB, settings map[string]string) *Cluster {
	t.Helper()
	r, err := c.LaunchReplica(settings)
	if err != nil {
		t.Fatal(err)
	}
	return stopOnCleanup(t, r)
}

func stopOnCleanup(t testing.TB, c *pgcluster.Cluster) *Cluster {
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("pgtest: stop private cluster: %v", err)
		}
	})
	return &Cluster{c}
}
