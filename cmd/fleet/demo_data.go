package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/dblease"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// demoFleet is the demo's fleet name: it prefixes its roles and databases
// on the instance server and its Redis keys.
const demoFleet = "demo"

// demoLeaseTTL bounds how long a demo killed without cleanup keeps its
// Redis database.
const demoLeaseTTL = 24 * time.Hour

// demoNamespace is the demo's own data: its settings (the FLEET_*
// environment its fleet and example application run with) and the leased
// Redis database, released by release.
type demoNamespace struct {
	settings map[string]string
	// appToken is the bearer token of the example application.
	appToken string
	lease    *dblease.Lease
}

// getenv reads the demo's settings only: nothing of the user's FLEET_*
// environment (a Slack URL, a production provider, FLEET_CONFIG) reaches
// the demo fleet unless prepareDemoData copied it.
func (n *demoNamespace) getenv(key string) string { return n.settings[key] }

// release gives the Redis database back.
func (n *demoNamespace) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.lease.Release(ctx)
}

// prepareDemoData resets the demo's data and returns its namespace: the
// control-plane database o.database on the user's control-plane server is
// dropped (the fleet recreates and migrates it), the demo fleet's
// databases and roles on the instance server are dropped, and a Redis
// database of the user's Redis server is leased (and emptied). The
// user's own control-plane database, Redis database and fleet are never
// touched.
func prepareDemoData(ctx context.Context, getenv func(string) string, o demoOptions) (_ *demoNamespace, err error) {
	userDB := cmp.Or(getenv("FLEET_DATABASE_URL"), config.Default().DatabaseURL)
	if u, perr := url.Parse(userDB); perr != nil || strings.Contains(userDB, " ") || !strings.Contains(userDB, "://") {
		return nil, errors.New("the demo needs FLEET_DATABASE_URL as a postgres:// URL")
	} else if strings.TrimPrefix(u.Path, "/") == o.database {
		return nil, fmt.Errorf("--database %s is FLEET_DATABASE_URL's own database; the demo uses a database of its own", o.database)
	}
	// The instance server is checked before anything is dropped.
	if err := resetInstanceServer(ctx, o.instanceServer); err != nil {
		return nil, err
	}
	if err := resetControlPlane(ctx, config.WithDatabase(userDB, "postgres"), o.database); err != nil {
		return nil, err
	}
	rc := redisconn.Config{URL: cmp.Or(getenv("FLEET_REDIS_URL"), config.Default().RedisURL),
		CAFile: getenv("FLEET_REDIS_CA_FILE"), CertFile: getenv("FLEET_REDIS_CERT_FILE"), KeyFile: getenv("FLEET_REDIS_KEY_FILE")}
	lease, err := dblease.Acquire(ctx, rc, "fleet-demo", demoLeaseTTL)
	if err != nil {
		return nil, fmt.Errorf("lease a Redis database for the demo: %w", err)
	}
	ns := &demoNamespace{lease: lease, appToken: randomToken(24)}
	token := getenv("FLEET_API_TOKEN")
	if len(token) < 16 {
		token = generateToken()
	}
	ns.settings = map[string]string{
		"FLEET_DATABASE_URL":          config.WithDatabase(userDB, o.database),
		"FLEET_REDIS_URL":             lease.URL,
		"FLEET_REDIS_CA_FILE":         rc.CAFile,
		"FLEET_REDIS_CERT_FILE":       rc.CertFile,
		"FLEET_REDIS_KEY_FILE":        rc.KeyFile,
		"FLEET_NAME":                  demoFleet,
		"FLEET_HTTP_ADDR":             o.addr,
		"FLEET_API_TOKEN":             token,
		"FLEET_TICKET_WEBHOOK_SECRET": "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32)),
		"FLEET_PROVIDER":              "local",
		// The tenants' logins derive their passwords from it; generated,
		// as the demo's tenants live only until the next run.
		"FLEET_SECRET_KEY":      hex.EncodeToString(randomBytes(32)),
		"FLEET_LOCAL_ADMIN_URL": o.instanceServer,
		// Short periods, so the alert fires and resolves within seconds.
		"FLEET_HEALTH_INTERVAL":      "5s",
		"FLEET_POOL_WATCH_INTERVAL":  "2s",
		"FLEET_POOL_EXHAUSTED_AFTER": "2s",
		"FLEET_SHUTDOWN_TIMEOUT":     "5s",
		"FLEET_LOG_LEVEL":            cmp.Or(getenv("FLEET_LOG_LEVEL"), "warn"),
		"FLEET_LOG_FORMAT":           getenv("FLEET_LOG_FORMAT"),
	}
	return ns, nil
}

// resetControlPlane drops the demo's control-plane database (its sessions
// terminated) through the server's admin database.
func resetControlPlane(ctx context.Context, adminURL, database string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("control-plane server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{database}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("reset the demo's control plane %s: %w", database, err)
	}
	return nil
}

// resetInstanceServer checks that the instance server can run the cost
// agent (pg_stat_statements preloaded, HypoPG installed) and drops what an
// earlier demo left on it: the demo fleet's instance databases and roles.
func resetInstanceServer(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("the demo's instance server at %s does not answer (make demo starts one: .ci/services demo): %w",
			config.Redact(adminURL), err)
	}
	defer conn.Close(ctx)
	var preload string
	var hypopg bool
	if err := conn.QueryRow(ctx, `SELECT current_setting('shared_preload_libraries'),
		EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'hypopg')`).Scan(&preload, &hypopg); err != nil {
		return fmt.Errorf("instance server: %w", err)
	}
	if !strings.Contains(preload, "pg_stat_statements") {
		return fmt.Errorf("the instance server %s does not preload pg_stat_statements (the cost agent needs it); .ci/services demo starts one that does",
			config.Redact(adminURL))
	}
	if !hypopg {
		return errors.New("HypoPG is not installed on the instance server (Debian: apt-get install postgresql-15-hypopg)")
	}
	// What the local provider made for the demo fleet, as fleetbench
	// removes its scratch fleets: the instance databases, then the roles.
	if err := local.DropFleetDatabases(ctx, conn, demoFleet); err != nil {
		return fmt.Errorf("drop the earlier demo's databases: %w", err)
	}
	if err := tenants.DropFleetRoles(ctx, conn, demoFleet); err != nil {
		return fmt.Errorf("drop the earlier demo's roles: %w", err)
	}
	return nil
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomToken returns a random URL-safe token of n bytes.
func randomToken(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }
