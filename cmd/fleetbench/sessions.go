package main

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
)

// newSessions builds the fleet's sessions on local instances of the server
// of adminURL with a fresh random key, as `fleet run` does with
// FLEET_SECRET_KEY. Close the connector when done.
func newSessions(adminURL string, maxConns int32) (*sessions.Sessions, *local.Connector, error) {
	conn, err := local.NewConnector(local.ConnectorConfig{AdminURL: adminURL, MaxConns: maxConns})
	if err != nil {
		return nil, nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := sessions.New(sessions.Config{Connector: conn, Key: key})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return s, conn, nil
}

// randomKey returns a fresh 32-byte secret key in hex, the form
// FLEET_SECRET_KEY takes.
func randomKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return hex.EncodeToString(key)
}
