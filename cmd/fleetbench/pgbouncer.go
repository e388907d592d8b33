package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// bouncerIni is the PgBouncer configuration of the comparison: transaction
// pooling, one pool per tenant user of default_pool_size connections, all
// of them within max_db_connections (the same budget as our pools), and
// the same wait deadline.
const bouncerIni = `[databases]
%[1]s = host=%[2]s port=%[3]d dbname=%[1]s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[4]d
unix_socket_dir =
auth_type = trust
auth_file = %[5]s
pool_mode = transaction
max_client_conn = 5000
default_pool_size = %[6]d
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = %[7]d
query_wait_timeout = %[8]d
ignore_startup_parameters = extra_float_digits
logfile = %[9]s
`

// runBouncerPhase runs the noisy scenario through a PgBouncer it starts
// (bin), each tenant logging in as its own role, as a team would deploy it
// for the isolation of strict tenants.
func runBouncerPhase(ctx context.Context, e *env, p noisyParams, bin string, poolSize int,
	batchIDs []string, live string, sleep float64) (phase, error) {
	ids := append([]string{live}, batchIDs...)
	dir, err := os.MkdirTemp("", "fleetbench-pgbouncer-")
	if err != nil {
		return phase{}, err
	}
	defer os.RemoveAll(dir)
	var users strings.Builder
	passwords := map[string]string{}
	for _, id := range ids {
		n, err := tenants.NamesFor(e.fleet, id)
		if err != nil {
			return phase{}, err
		}
		if err := e.enableLogin(ctx, n); err != nil {
			return phase{}, err
		}
		passwords[id] = sessions.Password(e.key, n.Role)
		fmt.Fprintf(&users, "%q %q\n", n.Role, passwords[id])
	}
	port, err := freePort(ctx)
	if err != nil {
		return phase{}, err
	}
	authFile, logFile, iniFile := filepath.Join(dir, "users.txt"), filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.ini")
	ini := fmt.Sprintf(bouncerIni, e.dataDB, e.host, e.port, port, authFile, poolSize, p.pool,
		int(math.Ceil(p.deadline.Seconds())), logFile)
	if err := os.WriteFile(authFile, []byte(users.String()), 0o600); err != nil {
		return phase{}, err
	}
	if err := os.WriteFile(iniFile, []byte(ini), 0o600); err != nil {
		return phase{}, err
	}
	args := []string{iniFile}
	if os.Geteuid() == 0 { // PgBouncer refuses to run as root
		if err := chownTo(dir, "postgres", authFile, iniFile); err != nil {
			return phase{}, err
		}
		args = []string{"-u", "postgres", iniFile}
	}
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // the operator names the binary with -pgbouncer
	cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
	if err := cmd.Start(); err != nil {
		return phase{}, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitListening(ctx, addr, 10*time.Second); err != nil {
		return phase{}, fmt.Errorf("pgbouncer did not listen on %s: %w", addr, err)
	}

	pools := map[string]*pgxpool.Pool{}
	defer func() {
		for _, pool := range pools {
			pool.Close()
		}
	}()
	for _, id := range ids {
		n, _ := tenants.NamesFor(e.fleet, id)
		u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + e.dataDB, User: url.UserPassword(n.Role, passwords[id]),
			RawQuery: "default_query_exec_mode=simple_protocol"}
		pc, err := pgxpool.ParseConfig(u.String())
		if err != nil {
			return phase{}, fmt.Errorf("pgbouncer client config of %s: %w", id, err)
		}
		pc.MaxConns = int32(max(p.workers, 1))
		if id == live {
			pc.MaxConns = 64 // every probe has a client connection: PgBouncer does the queueing
		}
		if pools[id], err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return phase{}, err
		}
		if _, err := pools[id].Exec(ctx, "SELECT 1"); err != nil {
			return phase{}, fmt.Errorf("pgbouncer: %s: %w", id, err)
		}
	}
	fmt.Fprintf(e.stderr, "noisy: PgBouncer %s, transaction mode, one user per tenant, default_pool_size %d, max_db_connections %d, same scenario\n",
		bin, poolSize, p.pool)
	ph := runPhase(ctx, e, p, batchIDs,
		func(ctx context.Context, id string) error {
			_, err := pools[id].Exec(ctx, "SELECT pg_sleep($1)", sleep)
			return err
		},
		func(ctx context.Context) error {
			var v string
			return pools[live].QueryRow(ctx, "SELECT v FROM items WHERE id = 1").Scan(&v)
		})
	return ph, ctx.Err()
}

// freePort returns a TCP port of 127.0.0.1 nobody listens on now.
func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts TCP connections.
func waitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chownTo gives the named user the directory and files.
func chownTo(dir, name string, files ...string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, f := range append([]string{dir}, files...) {
		if err := os.Chown(f, uid, gid); err != nil {
			return err
		}
	}
	return nil
}
