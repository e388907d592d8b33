// Package pgtest starts private PostgreSQL servers for tests that need a
// server of their own: to crash and restart it, to require TLS and
// passwords, or to change its configuration. Tests that only need a
// database use cptest's scratch databases on the shared server instead.
//
// A cluster is initdb'd in a temporary directory (as the postgres OS user
// when the test runs as root), listens on a free loopback port and on a
// Unix socket in that directory, and is stopped and removed when the test
// ends. The superuser postgres may always connect over the socket without
// a password (SocketDSN), whatever the TCP rules in pg_hba.conf are.
package pgtest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/testca"
)

// BinEnv names the environment variable that overrides where the
// PostgreSQL 15 server binaries are.
const BinEnv = "FLEET_TEST_PG_BIN"

// DefaultBin is where Debian's postgresql-15 package installs the server
// binaries.
const DefaultBin = "/usr/lib/postgresql/15/bin"

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

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	// Port is the TCP port, also the socket's.
	Port int
	// SocketDir is the directory holding the Unix socket.
	SocketDir string

	data string
	run  func(args ...string) error
}

const defaultHBA = `local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`

// Start initdb's a cluster, starts it and stops it when the test ends. A
// missing PostgreSQL installation fails the test.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, owner := newCluster(t)
	if err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatal(err)
	}

	settings := map[string]string{
		"fsync":           "off",
		"max_connections": "50",
	}
	if opts.ListenAddresses != "" {
		settings["listen_addresses"] = opts.ListenAddresses
	}
	if opts.TLS != nil {
		owner.write(t, filepath.Join(c.data, "server.crt"), opts.TLS.CertPEM)
		owner.write(t, filepath.Join(c.data, "server.key"), opts.TLS.KeyPEM)
		settings["ssl"] = "on"
		settings["ssl_cert_file"] = "server.crt"
		settings["ssl_key_file"] = "server.key"
	}
	maps.Copy(settings, opts.Settings)
	hba := opts.HBA
	if hba == "" {
		hba = defaultHBA
	}
	owner.write(t, filepath.Join(c.data, "pg_hba.conf"), []byte(hba))
	c.start(t, settings)
	return c
}

// StartReplica starts a streaming replica of c (pg_basebackup -R over
// TCP; c's pg_hba.conf must allow replication from 127.0.0.1, as the
// default does) with settings added to the copied postgresql.conf, and
// stops it when the test ends. It shows in c's pg_stat_replication under
// application_name "replica".
func (c *Cluster) StartReplica(t testing.TB, settings map[string]string) *Cluster {
	t.Helper()
	r, _ := newCluster(t)
	if err := r.run("pg_basebackup", "-D", r.data, "-R", "-X", "stream", "-c", "fast", "--no-sync",
		"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=replica", c.Port)); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"hot_standby": "on"}
	maps.Copy(all, settings)
	r.start(t, all)
	return r
}

// newCluster prepares an empty directory, a free port and the command
// runner of a cluster.
func newCluster(t testing.TB) (*Cluster, owner) {
	t.Helper()
	bin := DefaultBin
	if v := os.Getenv(BinEnv); v != "" {
		bin = v
	}
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil { //nolint:gosec // G703: the test's own environment names the directory
		t.Fatalf("pgtest: PostgreSQL binaries not found in %s (set %s): %v", bin, BinEnv, err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	owner := newOwner(t, dir)

	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	c := &Cluster{Port: port, SocketDir: dir, data: filepath.Join(dir, "data")}
	c.run = func(args ...string) error {
		all := append(slices.Clone(owner.prefix), filepath.Join(bin, args[0]))
		all = append(all, args[1:]...)
		// Output goes to a file, not a pipe: the server started by pg_ctl
		// inherits it and would hold a pipe open for its whole life.
		out, err := os.CreateTemp(dir, "cmd-*.out")
		if err != nil {
			return err
		}
		defer out.Close()
		owner.chown(t, out.Name())
		// pg_ctl -w waits for the server; initdb takes seconds. Bounded so a
		// stuck command fails the test instead of hanging it.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, all[0], all[1:]...) //nolint:gosec // G204: PostgreSQL's own binaries with arguments built here
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			text, _ := os.ReadFile(out.Name())
			return fmt.Errorf("%v: %w\n%s", args, err, text)
		}
		return nil
	}
	return c, owner
}

// start appends settings (and the cluster's port and socket directory) to
// postgresql.conf, starts the server and stops it when the test ends.
func (c *Cluster) start(t testing.TB, settings map[string]string) {
	t.Helper()
	all := map[string]string{"listen_addresses": "127.0.0.1"}
	maps.Copy(all, settings)
	all["port"] = strconv.Itoa(c.Port)
	all["unix_socket_directories"] = c.SocketDir
	var conf strings.Builder
	for _, k := range slices.Sorted(maps.Keys(all)) {
		fmt.Fprintf(&conf, "%s = '%s'\n", k, strings.ReplaceAll(all[k], "'", "''"))
	}
	appendFile(t, filepath.Join(c.data, "postgresql.conf"), conf.String())
	if err := c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.SocketDir, "log"), "-w", "start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop"); err != nil {
			t.Logf("pgtest: stop private cluster: %v", err)
		}
	})
}

// URL is a superuser URL over TCP on 127.0.0.1 without TLS. It works with
// the default pg_hba.conf, not with one that requires TLS or passwords.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, database)
}

// SocketDSN is a superuser connection string over the Unix socket, which
// pg_hba.conf trusts.
func (c *Cluster) SocketDSN(database string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", c.SocketDir, c.Port, database)
}

// Restart crashes the server (immediate shutdown: no checkpoint, backends
// killed, crash recovery at start) and starts it again.
func (c *Cluster) Restart() error {
	return c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "restart")
}

// owner runs the server's commands and owns its files: the postgres OS
// user when the test runs as root (initdb refuses root), else the test's
// own user.
type owner struct {
	prefix   []string
	uid, gid int
}

func newOwner(t testing.TB, dir string) owner {
	t.Helper()
	if os.Geteuid() != 0 {
		return owner{uid: -1, gid: -1}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("pgtest: running as root needs a postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	o := owner{prefix: []string{"runuser", "-u", "postgres", "--"}, uid: uid, gid: gid}
	o.chown(t, dir)
	return o
}

func (o owner) chown(t testing.TB, path string) {
	t.Helper()
	if o.uid < 0 {
		return
	}
	if err := os.Chown(path, o.uid, o.gid); err != nil {
		t.Fatal(err)
	}
}

// write writes a file only the server's user may read (PostgreSQL refuses
// a private key others can read).
func (o owner) write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	o.chown(t, path)
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + text); err != nil {
		t.Fatal(err)
	}
}
