package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
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
	if c.WorkerConcurrency != 20 || c.TaskCheckInterval != 50*time.Millisecond || c.CapacityThreshold != 0.8 {
		t.Errorf("defaults: concurrency %d check interval %s threshold %g", c.WorkerConcurrency, c.TaskCheckInterval, c.CapacityThreshold)
	}
	if got := strings.Join(c.Roles, ","); got != "api,scheduler,worker" {
		t.Errorf("Roles = %q, want all three", got)
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{
		"FLEET_HTTP_ADDR":          ":9090",
		"FLEET_LOG_FORMAT":         "json",
		"FLEET_SHUTDOWN_TIMEOUT":   "3s",
		"FLEET_ROLES":              "worker, api",
		"FLEET_WORKER_CONCURRENCY": "8",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTPAddr != ":9090" || c.LogFormat != "json" || c.ShutdownTimeout != 3*time.Second || c.WorkerConcurrency != 8 {
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
		{"bad number", map[string]string{"FLEET_WORKER_CONCURRENCY": "twenty"}, []string{"FLEET_WORKER_CONCURRENCY", "whole number"}},
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
		{"jira field", map[string]string{"FLEET_JIRA_TENANT_FIELD": "custom field!"}, []string{"FLEET_JIRA_TENANT_FIELD"}},
		{"metrics addr", map[string]string{"FLEET_METRICS_ADDR": "9102"}, []string{"FLEET_METRICS_ADDR must be host:port"}},
		{"metrics addr on the api port", map[string]string{"FLEET_METRICS_ADDR": "127.0.0.1:8080"}, []string{"FLEET_METRICS_ADDR must differ"}},
		{"public origin with a path", map[string]string{"FLEET_PUBLIC_ORIGIN": "https://fleet.example.com/ui"}, []string{"FLEET_PUBLIC_ORIGIN"}},
		{"public origin without scheme", map[string]string{"FLEET_PUBLIC_ORIGIN": "fleet.example.com"}, []string{"FLEET_PUBLIC_ORIGIN"}},
		{"rds endpoint", map[string]string{"FLEET_RDS_ENDPOINT": "localhost:4566"}, []string{"FLEET_RDS_ENDPOINT must be an http:// or https:// URL"}},
		{"secrets manager endpoint", map[string]string{"FLEET_SECRETSMANAGER_ENDPOINT": "ftp://x"}, []string{"FLEET_SECRETSMANAGER_ENDPOINT must be an http:// or https:// URL"}},
		{"missing ca bundle", map[string]string{"FLEET_RDS_CA_BUNDLE": "/nonexistent/global-bundle.pem"}, []string{"FLEET_RDS_CA_BUNDLE must name a readable PEM file"}},
		{"ca bundle is a directory", map[string]string{"FLEET_RDS_CA_BUNDLE": os.TempDir()}, []string{"FLEET_RDS_CA_BUNDLE"}},
		{"retired shared webhook secret", map[string]string{"FLEET_WEBHOOK_SECRET": "one-secret-for-both-hooks"},
			[]string{"FLEET_WEBHOOK_SECRET is retired", "FLEET_JIRA_WEBHOOK_SECRET", "FLEET_TICKET_WEBHOOK_SECRET"}},
		{"same secret for both webhooks", map[string]string{"FLEET_JIRA_WEBHOOK_SECRET": "same-secret-0123456", "FLEET_TICKET_WEBHOOK_SECRET": "same-secret-0123456"},
			[]string{"must differ"}},
		{"short jira secret", map[string]string{"FLEET_JIRA_WEBHOOK_SECRET": "short"}, []string{"FLEET_JIRA_WEBHOOK_SECRET must be at least 16"}},
		{"short ticket secret", map[string]string{"FLEET_TICKET_WEBHOOK_SECRET": "short"}, []string{"FLEET_TICKET_WEBHOOK_SECRET must be at least 16"}},
		{"bad jira project", map[string]string{"FLEET_JIRA_PROJECTS": "OPS, bad key"}, []string{`FLEET_JIRA_PROJECTS must list Jira project keys such as OPS, got "bad key"`}},
		{"bidi in a jira issue type", map[string]string{"FLEET_JIRA_ISSUE_TYPES": "Onboarding,Task\u202e"}, []string{"FLEET_JIRA_ISSUE_TYPES"}},
		{"short secret key", map[string]string{"FLEET_SECRET_KEY": strings.Repeat("ab", 31)}, []string{"FLEET_SECRET_KEY must be at least 32 bytes"}},
		{"secret key neither hex nor base64", map[string]string{"FLEET_SECRET_KEY": strings.Repeat("not base64!", 8)}, []string{"FLEET_SECRET_KEY must be at least 32 bytes"}},
		{"rds without a secret key", map[string]string{"FLEET_PROVIDER": "rds"}, []string{"FLEET_SECRET_KEY is required with FLEET_PROVIDER=rds"}},
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
			for k, v := range tc.env {
				if strings.Contains(strings.ReplaceAll(k, "SECRETSMANAGER", ""), "SECRET") && strings.Contains(err.Error(), v) {
					t.Errorf("error %q echoes the secret of %s", err, k)
				}
			}
		})
	}
}

func TestLoadRDSConnectorSettings(t *testing.T) {
	t.Parallel()
	bundle := filepath.Join(t.TempDir(), "global-bundle.pem")
	if err := os.WriteFile(bundle, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{
		"FLEET_PROVIDER":                "rds",
		"FLEET_SECRET_KEY":              strings.Repeat("ab", 32),
		"FLEET_RDS_CA_BUNDLE":           bundle,
		"FLEET_SECRETSMANAGER_ENDPOINT": "http://127.0.0.1:4566",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.RDSCABundle != bundle || c.SecretsManagerEndpoint != "http://127.0.0.1:4566" {
		t.Errorf("got bundle %q endpoint %q", c.RDSCABundle, c.SecretsManagerEndpoint)
	}
	if d := Default(); d.RDSCABundle != "" || d.SecretsManagerEndpoint != "" {
		t.Errorf("defaults: got bundle %q endpoint %q, want both empty", d.RDSCABundle, d.SecretsManagerEndpoint)
	}
}

func TestLoadYAMLFileEnvWins(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte("http_addr: 127.0.0.1:7000\nworker_concurrency: 12\nshutdown_timeout: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"FLEET_CONFIG": path, "FLEET_WORKER_CONCURRENCY": "30"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTPAddr != "127.0.0.1:7000" || c.ShutdownTimeout != 2*time.Second {
		t.Errorf("file values not applied: addr %q shutdown %s", c.HTTPAddr, c.ShutdownTimeout)
	}
	if c.WorkerConcurrency != 30 {
		t.Errorf("WorkerConcurrency = %d, want 30 (environment wins over file)", c.WorkerConcurrency)
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

func TestLoadWebhookSecretsAndJiraAllowlist(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{
		"FLEET_JIRA_WEBHOOK_SECRET":   "jira-secret-0123456",
		"FLEET_TICKET_WEBHOOK_SECRET": "whsec_dGlja2V0LXNlY3JldC0wMTIzNDU2",
		"FLEET_JIRA_PROJECTS":         "OPS, onb ,",
		"FLEET_JIRA_ISSUE_TYPES":      "Onboarding, Service Request",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.JiraWebhookSecret != "jira-secret-0123456" || c.TicketWebhookSecret != "whsec_dGlja2V0LXNlY3JldC0wMTIzNDU2" {
		t.Errorf("secrets: got %q, %q", c.JiraWebhookSecret, c.TicketWebhookSecret)
	}
	if got := strings.Join(c.JiraProjects, "|"); got != "OPS|onb" {
		t.Errorf("JiraProjects = %q, want OPS|onb", got)
	}
	if got := strings.Join(c.JiraIssueTypes, "|"); got != "Onboarding|Service Request" {
		t.Errorf("JiraIssueTypes = %q, want Onboarding|Service Request", got)
	}
	d, err := Load(envOf(nil))
	if err != nil || d.JiraWebhookSecret != "" || d.TicketWebhookSecret != "" || len(d.JiraProjects) != 0 || len(d.JiraIssueTypes) != 0 {
		t.Errorf("defaults: got %+v, %v; want no secrets and no Jira project", d, err)
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
		"FLEET_API_TOKEN":             "supersecrettoken123",
		"FLEET_JIRA_WEBHOOK_SECRET":   "jirahooksecret-0123",
		"FLEET_TICKET_WEBHOOK_SECRET": "tickethooksecret-0123",
		"FLEET_DATABASE_URL":          "postgres://fleet:pa55word@db:5432/fleet",
		"FLEET_REDIS_URL":             "redis://:redispass@cache:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	for _, secret := range []string{"supersecrettoken123", "jirahooksecret-0123", "tickethooksecret-0123", "pa55word", "redispass"} {
		for _, field := range []string{r.APIToken, r.WebhookSecret, r.JiraWebhookSecret, r.TicketWebhookSecret, r.DatabaseURL, r.RedisURL, r.LocalAdminURL} {
			if strings.Contains(field, secret) {
				t.Errorf("redacted config still contains %q in %q", secret, field)
			}
		}
	}
	if c.APIToken != "supersecrettoken123" {
		t.Errorf("Redacted changed the original")
	}
}

func TestLoadMetricsAddrAndPublicOrigin(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{"FLEET_METRICS_ADDR": "10.0.0.5:9102", "FLEET_PUBLIC_ORIGIN": "https://fleet.example.com:8443"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.MetricsAddr != "10.0.0.5:9102" || c.PublicOrigin != "https://fleet.example.com:8443" {
		t.Errorf("metrics addr %q, public origin %q: not applied", c.MetricsAddr, c.PublicOrigin)
	}
	if d := Default(); d.MetricsAddr != "" || d.PublicOrigin != "" {
		t.Errorf("defaults: metrics addr %q, public origin %q; want both empty", d.MetricsAddr, d.PublicOrigin)
	}
}

// TestRedactHidesEveryPasswordForm covers the shapes a password takes in a
// connection string: URL user info, a password query parameter, and a
// libpq key/value string, quoted or not.
func TestRedactHidesEveryPasswordForm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw    string
		secret string
		keep   string // a part that must survive, so the output stays useful
	}{
		{"postgres://fleet:pa55word@db:5432/fleet", "pa55word", "db:5432/fleet"},
		{"postgres://fleet@db/fleet?password=hunter2&sslmode=require", "hunter2", "sslmode=require"},
		{"postgres:///fleet?host=/var/run/postgresql&password=hunter2", "hunter2", "host="},
		{"postgres://db/fleet?sslpassword=keypass&sslkey=/k.pem", "keypass", "sslkey="},
		{"postgres://db/fleet?PASSWORD=shouty1", "shouty1", "db/fleet"},
		{"redis://:redispass@cache:6379/0", "redispass", "cache:6379"},
		{"host=db password=hunter2 dbname=fleet", "hunter2", "dbname=fleet"},
		{"host=db password = hunter2 dbname=fleet", "hunter2", "dbname=fleet"},
		{"host=db password='two words' dbname=fleet", "two words", "dbname=fleet"},
		{`host=db password='it\'s secret' dbname=fleet`, "secret", "dbname=fleet"},
		{"host=db sslpassword=keypass", "keypass", "host=db"},
		{"password=hunter2", "hunter2", ""},
		{"user:hunter2@tcp(db)/fleet", "hunter2", ""},
	}
	for _, tc := range cases {
		got := Redact(tc.raw)
		if strings.Contains(got, tc.secret) {
			t.Errorf("Redact(%q) = %q: still holds %q", tc.raw, got, tc.secret)
		}
		if !strings.Contains(got, tc.keep) {
			t.Errorf("Redact(%q) = %q: lost %q", tc.raw, got, tc.keep)
		}
	}
}

// TestValidationErrorsHideDSNPasswords: a key/value DSN or a URL with a
// password parameter given where a URL is expected is refused with a
// message that names the problem and not the password.
func TestValidationErrorsHideDSNPasswords(t *testing.T) {
	t.Parallel()
	for key, raw := range map[string]string{
		"FLEET_DATABASE_URL":    "host=db user=fleet password=hunter2 dbname=fleet",
		"FLEET_LOCAL_ADMIN_URL": "host=db password='hunter2 x'",
		"FLEET_REDIS_URL":       "cache:6379?password=hunter2",
	} {
		_, err := Load(envOf(map[string]string{key: raw}))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key) {
			t.Fatalf("Load(%s=%q) = %v, want ErrInvalid naming %s", key, raw, err, key)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error echoes the password: %v", key, err)
		}
		if key != "FLEET_REDIS_URL" && !strings.Contains(err.Error(), "key/value connection string") {
			t.Errorf("%s: error %q does not say a key/value string is not accepted", key, err)
		}
	}
	// A URL with a password parameter but another mistake (not postgres).
	_, err := Load(envOf(map[string]string{"FLEET_DATABASE_URL": "mysql://db/fleet?password=hunter2"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("mysql URL with a password parameter: %v, want an error without the password", err)
	}
}

func TestRedactedHidesQueryPasswords(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{
		"FLEET_DATABASE_URL":    "postgres://fleet@db:5432/fleet?password=dbquerypass",
		"FLEET_LOCAL_ADMIN_URL": "postgres://db:5432/postgres?password=adminquerypass",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	for _, field := range []string{r.DatabaseURL, r.LocalAdminURL} {
		if strings.Contains(field, "querypass") {
			t.Errorf("redacted config leaks a password parameter: %q", field)
		}
	}
}

func TestSecretKeyBytesDecodesHexAndBase64(t *testing.T) {
	t.Parallel()
	want := bytes.Repeat([]byte{0xab}, 32)
	for _, enc := range []string{hex.EncodeToString(want), base64.StdEncoding.EncodeToString(want), base64.RawURLEncoding.EncodeToString(want)} {
		got, err := Config{SecretKey: enc}.SecretKeyBytes()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("SecretKeyBytes(%q) = %x, %v; want %x", enc, got, err, want)
		}
	}
	if got, err := (Config{}).SecretKeyBytes(); got != nil || err != nil {
		t.Errorf("empty key: %x, %v; want nil, nil", got, err)
	}
	if r := (Config{SecretKey: hex.EncodeToString(want)}).Redacted(); strings.Contains(r.SecretKey, hex.EncodeToString(want)) {
		t.Error("Redacted shows the secret key")
	}
}
