package config

import (
	"errors"
	"testing"
)

// FuzzLoad feeds arbitrary values to a few variables: Load must either
// succeed with a configuration that validates or fail with ErrInvalid,
// never panic.
func FuzzLoad(f *testing.F) {
	f.Add("postgres://u@h:1/db", "5s", "20", "api,worker", "0.8")
	f.Add("", "", "", "", "")
	f.Add("://", "-1s", "-3", ",,,", "NaN")
	f.Fuzz(func(t *testing.T, dbURL, timeout, pool, roles, threshold string) {
		c, err := Load(envOf(map[string]string{
			"FLEET_DATABASE_URL":       dbURL,
			"FLEET_SHUTDOWN_TIMEOUT":   timeout,
			"FLEET_WORKER_CONCURRENCY": pool,
			"FLEET_ROLES":              roles,
			"FLEET_CAPACITY_THRESHOLD": threshold,
		}))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned a config that does not validate: %v", err)
		}
	})
}
