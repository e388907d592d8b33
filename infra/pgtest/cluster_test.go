package pgtest_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/pgtest"
)

func TestStartSettingsAndRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Settings: map[string]string{"application_name": "it's quoted"}})
	ctx := t.Context()
	for _, dsn := range []string{c.URL("postgres"), c.SocketDSN("postgres")} {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect %s: %v", dsn, err)
		}
		var ssl, name string
		if err := conn.QueryRow(ctx, "SELECT current_setting('ssl'), current_setting('application_name')").Scan(&ssl, &name); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(ctx)
		if ssl != "off" || name != "it's quoted" {
			t.Errorf("%s: got ssl %q application_name %q, want off and the configured name", dsn, ssl, name)
		}
	}
	if err := c.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	_ = conn.Close(ctx)
}
