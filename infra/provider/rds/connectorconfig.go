package rds

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
)

// ConnectorConfig configures the RDS connector. The zero value is usable:
// the default AWS chain and endpoint, the system roots.
type ConnectorConfig struct {
	// AWS are the Secrets Manager client settings. AWS.Endpoint overrides
	// the Secrets Manager endpoint (an smfake server in tests), not the RDS
	// API's. Defaults as documented on awsclient.Settings.
	AWS awsclient.Settings

	// CABundle is the path of a PEM file with the certificate authorities
	// that sign the instances' server certificates: AWS's RDS bundle,
	// https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem (or
	// the region's <region>-bundle.pem). Default empty: the system roots,
	// which hold no RDS CA on a stock system, so verification fails until
	// the bundle is configured or installed there. Either way the server's
	// certificate must chain to a trusted CA and name the host connected
	// to (sslmode=verify-full).
	CABundle string

	// MaxConns bounds each instance's admin pool. Default 8.
	MaxConns int32
	// ConnectTimeout bounds establishing one connection, TLS and
	// authentication included. Default 10s.
	ConnectTimeout time.Duration
	// ApplicationName is the application_name of admin sessions. Default
	// "tenantfleet-admin".
	ApplicationName string

	// Logger receives a line when a master secret is re-read after an
	// authentication failure; never a password. Default: discard.
	Logger *slog.Logger
}

func (c ConnectorConfig) withDefaults() ConnectorConfig {
	c.MaxConns = cmp.Or(c.MaxConns, 8)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, 10*time.Second)
	c.ApplicationName = cmp.Or(c.ApplicationName, "tenantfleet-admin")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c ConnectorConfig) validate() error {
	var errs []error
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max conns %d: must be at least 1", c.MaxConns))
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("connect timeout %s: must not be negative", c.ConnectTimeout))
	}
	if err := c.AWS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rds connector config: %w", err)
	}
	return nil
}

// roots returns the CAs server certificates must chain to: those of
// CABundle, or nil (the system roots) when it is empty.
func (c ConnectorConfig) roots() (*x509.CertPool, error) {
	if c.CABundle == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CABundle)
	if err != nil {
		return nil, fmt.Errorf("rds connector config: CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("rds connector config: CA bundle %s: no PEM certificate in it", c.CABundle)
	}
	return pool, nil
}
