package redistest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/testca"
)

// Certs are PEM files written for a test: a private certificate authority,
// a server certificate it signed for 127.0.0.1, ::1 and localhost, and a
// client certificate it signed.
type Certs struct {
	CAFile         string
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string
	ClientKeyFile  string
}

// NewCerts creates a fresh CA and its certificates in a temporary
// directory removed when the test ends.
func NewCerts(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	ca := testca.New(t, "tenantfleet test CA")
	c := Certs{CAFile: filepath.Join(dir, "ca.crt")}
	if err := os.WriteFile(c.CAFile, ca.CertPEM, 0o600); err != nil {
		t.Fatalf("redistest: write CA: %v", err)
	}
	c.ServerCertFile, c.ServerKeyFile = ca.Issue(t, "127.0.0.1", "::1", "localhost").Write(t, dir, "server")
	c.ClientCertFile, c.ClientKeyFile = ca.IssueClient(t, "fleet").Write(t, dir, "client")
	return c
}
