// Package pgcluster starts private PostgreSQL servers: initdb in a
// temporary directory (as the postgres OS user when running as root), a
// free loopback port and a Unix socket in that directory, stopped and
// removed by Stop. The superuser postgres may always connect over the
// socket without a password (SocketDSN), whatever the TCP rules in
// pg_hba.conf are. Tests use it through infra/pgtest (started and stopped
// with the test); fleetbench starts its instance servers with it.
package pgcluster

import (
	"context"
	"errors"
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
	"time"
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
	// TLSCertPEM and TLSKeyPEM, when set, turn ssl on with this server
	// certificate and key. Default: ssl off.
	TLSCertPEM, TLSKeyPEM []byte
	// ListenAddresses is listen_addresses. Default "127.0.0.1".
	ListenAddresses string
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	// Port is the TCP port, also the socket's.
	Port int
	// SocketDir is the directory holding the Unix socket.
	SocketDir string

	data    string
	run     func(args ...string) error
	started bool
}

const defaultHBA = `local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`

// Launch initdb's and starts a cluster, which the caller stops and
// removes with Stop. A missing PostgreSQL installation is an error.
func Launch(opts Options) (_ *Cluster, err error) {
	c, owner, err := newCluster()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, err
	}

	settings := map[string]string{
		"fsync":           "off",
		"max_connections": "50",
	}
	if opts.ListenAddresses != "" {
		settings["listen_addresses"] = opts.ListenAddresses
	}
	if opts.TLSCertPEM != nil {
		if err := owner.write(filepath.Join(c.data, "server.crt"), opts.TLSCertPEM); err != nil {
			return nil, err
		}
		if err := owner.write(filepath.Join(c.data, "server.key"), opts.TLSKeyPEM); err != nil {
			return nil, err
		}
		settings["ssl"] = "on"
		settings["ssl_cert_file"] = "server.crt"
		settings["ssl_key_file"] = "server.key"
	}
	maps.Copy(settings, opts.Settings)
	hba := opts.HBA
	if hba == "" {
		hba = defaultHBA
	}
	if err := owner.write(filepath.Join(c.data, "pg_hba.conf"), []byte(hba)); err != nil {
		return nil, err
	}
	if err := c.start(settings); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops the server (immediate shutdown) if it runs and removes its
// directory.
func (c *Cluster) Stop() error {
	var err error
	if c.started {
		if err = c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop"); err == nil {
			c.started = false
		}
	}
	return errors.Join(err, os.RemoveAll(c.SocketDir))
}

// LaunchReplica starts a streaming replica of c (pg_basebackup -R over
// TCP; c's pg_hba.conf must allow replication from 127.0.0.1, as the
// default does) with settings added to the copied postgresql.conf. It
// shows in c's pg_stat_replication under application_name "replica". The
// caller stops it with Stop.
func (c *Cluster) LaunchReplica(settings map[string]string) (_ *Cluster, err error) {
	r, _, err := newCluster()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = r.Stop()
		}
	}()
	if err := r.run("pg_basebackup", "-D", r.data, "-R", "-X", "stream", "-c", "fast", "--no-sync",
		"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=replica", c.Port)); err != nil {
		return nil, err
	}
	all := map[string]string{"hot_standby": "on"}
	maps.Copy(all, settings)
	if err := r.start(all); err != nil {
		return nil, err
	}
	return r, nil
}

// newCluster prepares an empty directory, a free port and the command
// runner of a cluster.
func newCluster() (_ *Cluster, _ owner, err error) {
	bin := DefaultBin
	if v := os.Getenv(BinEnv); v != "" {
		bin = v
	}
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil { //nolint:gosec // G703: the process's own environment names the directory
		return nil, owner{}, fmt.Errorf("pgtest: PostgreSQL binaries not found in %s (set %s): %w", bin, BinEnv, err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, owner{}, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	owner, err := newOwner(dir)
	if err != nil {
		return nil, owner, err
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, owner, err
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
		if err := owner.chown(out.Name()); err != nil {
			return err
		}
		// pg_ctl -w waits for the server; initdb takes seconds. Bounded so a
		// stuck command fails instead of hanging.
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
	return c, owner, nil
}

// start appends settings (and the cluster's port and socket directory) to
// postgresql.conf and starts the server; Stop stops it.
func (c *Cluster) start(settings map[string]string) error {
	all := map[string]string{"listen_addresses": "127.0.0.1"}
	maps.Copy(all, settings)
	all["port"] = strconv.Itoa(c.Port)
	all["unix_socket_directories"] = c.SocketDir
	var conf strings.Builder
	for _, k := range slices.Sorted(maps.Keys(all)) {
		fmt.Fprintf(&conf, "%s = '%s'\n", k, strings.ReplaceAll(all[k], "'", "''"))
	}
	if err := appendFile(filepath.Join(c.data, "postgresql.conf"), conf.String()); err != nil {
		return err
	}
	if err := c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.SocketDir, "log"), "-w", "start"); err != nil {
		return err
	}
	c.started = true
	return nil
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
// user when running as root (initdb refuses root), else the process's
// own user.
type owner struct {
	prefix   []string
	uid, gid int
}

func newOwner(dir string) (owner, error) {
	if os.Geteuid() != 0 {
		return owner{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return owner{}, fmt.Errorf("pgtest: running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	o := owner{prefix: []string{"runuser", "-u", "postgres", "--"}, uid: uid, gid: gid}
	return o, o.chown(dir)
}

func (o owner) chown(path string) error {
	if o.uid < 0 {
		return nil
	}
	return os.Chown(path, o.uid, o.gid)
}

// write writes a file only the server's user may read (PostgreSQL refuses
// a private key others can read).
func (o owner) write(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return o.chown(path)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("\n" + text)
	return err
}
