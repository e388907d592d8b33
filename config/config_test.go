package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatalf("Load with empty env: %v", err)
	}
	if got, want := c.DatabaseURL, "postgres://postgres@127.0.0.1:5432/fleet?sslmode=disable"; got != want {
		t.Errorf("DatabaseURL = %q, want %q", got, want)
	}
	if got, want := c.LocalAdminURL, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; got != want {
		t.Errorf("LocalAdminURL = %q, want %q", got, want)
	}
	if c.AcquireTimeout != 5*time.Second || c.PoolSize != 20 || c.CapacityThreshold != 0.8 {
		t.Errorf("defaults: acquire %s pool %d threshold %g", c.AcquireTimeout, c.PoolSize, c.CapacityThreshold)
	}
	if got := strings.Join(c.Roles, ","); got != "api,scheduler,worker" {
		t.Errorf("Roles = %q, want all three", got)
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{
		"FLEET_HTTP_ADDR":        ":9090",
		"FLEET_LOG_FORMAT":       "json",
		"FLEET_SHUTDOWN_TIMEOUT": "3s",
		"FLEET_ROLES":            "worker, api",
		"FLEET_POOL_SIZE":        "8",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTPAddr != ":9090" || c.LogFormat != "json" || c.ShutdownTimeout != 3*time.Second || c.PoolSize != 8 {
		t.Errorf("overrides not applied: %+v", c)
	}
	if got := strings.Join(c.Roles, ","); got != "worker,api" {
		t.Errorf("Roles = %q, want worker,api", got)
	}
}

func TestLoadValidationErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want []string // substrings the error must contain
	}{
		{"bad duration", map[string]string{"FLEET_SHUTDOWN_TIMEOUT": "soon"}, []string{"FLEET_SHUTDOWN_TIMEOUT", "not a duration"}},
		{"bad number", map[string]string{"FLEET_POOL_SIZE": "twenty"}, []string{"FLEET_POOL_SIZE", "whole number"}},
		{"bad log format", map[string]string{"FLEET_LOG_FORMAT": "xml"}, []string{"FLEET_LOG_FORMAT must be text or json"}},
		{"bad database url", map[string]string{"FLEET_DATABASE_URL": "mysql://x/y"}, []string{"FLEET_DATABASE_URL must be a postgres:// URL"}},
		{"bad redis url", map[string]string{"FLEET_REDIS_URL": "127.0.0.1:6379"}, []string{"FLEET_REDIS_URL"}},
		{"sentinel without master", map[string]string{"FLEET_REDIS_URL": "redis-sentinel://:pw@s1,s2/0"}, []string{"FLEET_REDIS_URL", "?master=NAME"}},
		{"redis CA without TLS", map[string]string{"FLEET_REDIS_CA_FILE": "/etc/ca.pem"}, []string{"FLEET_REDIS_CA_FILE is set but FLEET_REDIS_URL does not use TLS"}},
		{"redis cert without key", map[string]string{"FLEET_REDIS_URL": "rediss://h/0", "FLEET_REDIS_CERT_FILE": "/c.pem"}, []string{"FLEET_REDIS_CERT_FILE and FLEET_REDIS_KEY_FILE"}},
		{"short token", map[string]string{"FLEET_API_TOKEN": "abc"}, []string{"FLEET_API_TOKEN must be at least 16"}},
		{"unknown role", map[string]string{"FLEET_ROLES": "api,cook"}, []string{`unknown role "cook"`}},
		{"bad name", map[string]string{"FLEET_NAME": "Fleet-1"}, []string{"FLEET_NAME"}},
		{"threshold", map[string]string{"FLEET_CAPACITY_THRESHOLD": "1.5"}, []string{"FLEET_CAPACITY_THRESHOLD"}},
		{"cap above pool", map[string]string{"FLEET_POOL_SIZE": "4", "FLEET_TENANT_INFLIGHT_CAP": "9"}, []string{"FLEET_TENANT_INFLIGHT_CAP"}},
		{"jira field", map[string]string{"FLEET_JIRA_TENANT_FIELD": "custom field!"}, []string{"FLEET_JIRA_TENANT_FIELD"}},
		{"several at once", map[string]string{"FLEET_LOG_FORMAT": "xml", "FLEET_PROVIDER": "gcp"}, []string{"FLEET_LOG_FORMAT", "FLEET_PROVIDER must be local or rds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(envOf(tc.env))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load(%v) error = %v, want ErrInvalid", tc.env, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadYAMLFileEnvWins(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte("http_addr: 127.0.0.1:7000\npool_size: 12\nacquire_timeout: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"FLEET_CONFIG": path, "FLEET_POOL_SIZE": "30"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTPAddr != "127.0.0.1:7000" || c.AcquireTimeout != 2*time.Second {
		t.Errorf("file values not applied: addr %q acquire %s", c.HTTPAddr, c.AcquireTimeout)
	}
	if c.PoolSize != 30 {
		t.Errorf("PoolSize = %d, want 30 (environment wins over file)", c.PoolSize)
	}
}

func TestLoadYAMLUnknownKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte("pool_sise: 12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(envOf(map[string]string{"FLEET_CONFIG": path}))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "pool_sise") {
		t.Fatalf("error = %v, want ErrInvalid naming pool_sise", err)
	}
}

func TestLoadRedisForms(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://:pw@cache:6379/0",
		"rediss://fleet:pw@cache:6380/1",
		"redis-sentinel://:pw@s1:26379,s2:26379/0?master=mymaster&sentinel_password=spw",
		"rediss-sentinel://s1,[::1]:26380/2?master=mymaster",
	} {
		c, err := Load(envOf(map[string]string{"FLEET_REDIS_URL": raw, "FLEET_REDIS_CA_FILE": tlsOnly(raw, "/etc/ca.pem")}))
		if err != nil {
			t.Errorf("Load with FLEET_REDIS_URL=%s: %v", Redact(raw), err)
			continue
		}
		if got := c.Redis(); got.URL != raw || got.CAFile != tlsOnly(raw, "/etc/ca.pem") {
			t.Errorf("Redis() = %+v, want the URL and CA file", got)
		}
	}
}

// tlsOnly returns v for a TLS Redis URL, else "".
func tlsOnly(raw, v string) string {
	if strings.HasPrefix(raw, "rediss") {
		return v
	}
	return ""
}

func TestRedactHidesPasswordsOfEveryURLForm(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"redis://:userinfo-pw@cache:6379/0": "redis://:xxxxx@cache:6379/0",
		"redis-sentinel://app:userinfo-pw@s1:26379,s2:26379/0?master=m&sentinel_password=query-pw": "redis-sentinel://app:xxxxx@s1:26379,s2:26379/0?master=m&sentinel_password=xxxxx",
		"postgres://fleet@db/fleet?password=query-pw&sslmode=require":                              "postgres://fleet@db/fleet?password=xxxxx&sslmode=require",
		"redis-sentinel://:userinfo-pw@[::1]:26379,[::1]:26380/0?master=m":                         "(unparseable URL)",
	}
	for raw, want := range cases {
		got := Redact(raw)
		if got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
		if strings.Contains(got, "userinfo-pw") || strings.Contains(got, "query-pw") {
			t.Errorf("Redact(%q) leaks a password: %q", raw, got)
		}
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{
		"FLEET_API_TOKEN":      "supersecrettoken123",
		"FLEET_WEBHOOK_SECRET": "hooksecret",
		"FLEET_DATABASE_URL":   "postgres://fleet:pa55word@db:5432/fleet",
		"FLEET_REDIS_URL":      "redis://:redispass@cache:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	for _, secret := range []string{"supersecrettoken123", "hooksecret", "pa55word", "redispass"} {
		for _, field := range []string{r.APIToken, r.WebhookSecret, r.DatabaseURL, r.RedisURL, r.LocalAdminURL} {
			if strings.Contains(field, secret) {
				t.Errorf("redacted config still contains %q in %q", secret, field)
			}
		}
	}
	if c.APIToken != "supersecrettoken123" {
		t.Errorf("Redacted changed the original")
	}
}
