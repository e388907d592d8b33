package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// loadTLSFiles adds the configured CA bundle and client certificate to
// cfg. Server certificates are always verified: there is no option to skip
// it; a private CA goes in FLEET_REDIS_CA_FILE.
func loadTLSFiles(cfg *tls.Config, c Config) error {
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return fmt.Errorf("FLEET_REDIS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("FLEET_REDIS_CA_FILE: no PEM certificate in %s", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("FLEET_REDIS_CERT_FILE/FLEET_REDIS_KEY_FILE: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return nil
}
