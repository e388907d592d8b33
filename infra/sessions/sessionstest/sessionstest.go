// Package sessionstest builds the fleet's sessions for tests.
package sessionstest

import (
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
)

// Local returns the fleet's sessions on local instances of the server of
// adminURL, with a fresh secret key; its admin pools close when the test
// ends.
func Local(t testing.TB, adminURL string) *sessions.Sessions {
	t.Helper()
	conn, err := local.NewConnector(local.ConnectorConfig{AdminURL: adminURL})
	if err != nil {
		t.Fatalf("sessionstest: local connector: %v", err)
	}
	t.Cleanup(conn.Close)
	s, err := sessions.New(sessions.Config{Connector: conn, Key: cptest.SecretKey(t)})
	if err != nil {
		t.Fatalf("sessionstest: sessions: %v", err)
	}
	return s
}
