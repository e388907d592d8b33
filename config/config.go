// Package config loads and validates the configuration shared by every
// tenantfleet process: the control-plane database, Redis, HTTP, logging and
// the knobs of each agent. Values come from environment variables, optionally
// layered over a YAML file named by FLEET_CONFIG (the environment wins).
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tenantfleet/tenantfleet/infra/redisconn"
)

// Config is the whole configuration of a fleet process. Each field documents
// its environment variable, YAML key and default.
type Config struct {
	// DatabaseURL is the control-plane PostgreSQL URL (FLEET_DATABASE_URL,
	// yaml database_url). Default
	// postgres://postgres@127.0.0.1:5432/fleet?sslmode=disable. The database is
	// created at start when it is missing and the user may create it.
	DatabaseURL string `yaml:"database_url"`
	// RedisURL is the Redis URL for queues, routing cache and pool statistics
	// (FLEET_REDIS_URL, yaml redis_url). Default redis://127.0.0.1:6379/0.
	// Forms: redis://[user:pass@]host:port/db, rediss://... (TLS) and
	// redis-sentinel://[user:pass@]host1:26379,host2:26379/db?master=NAME
	// (rediss-sentinel:// with TLS; sentinel_username and sentinel_password
	// parameters); see redisconn.ParseURL. Its password is redacted.
	RedisURL string `yaml:"redis_url"`
	// RedisCAFile is a PEM bundle of the certificate authorities trusted for
	// the Redis servers' TLS certificates (FLEET_REDIS_CA_FILE, yaml
	// redis_ca_file). Default empty: the system roots. Only with rediss://
	// or rediss-sentinel://; certificates are always verified.
	RedisCAFile string `yaml:"redis_ca_file"`
	// RedisCertFile and RedisKeyFile are a PEM client certificate and key for
	// Redis servers that require one (FLEET_REDIS_CERT_FILE,
	// FLEET_REDIS_KEY_FILE, yaml redis_cert_file, redis_key_file). Default
	// empty: none. Both or neither, only with TLS.
	RedisCertFile string `yaml:"redis_cert_file"`
	RedisKeyFile  string `yaml:"redis_key_file"`
	// HTTPAddr is the listen address of the api role (FLEET_HTTP_ADDR, yaml
	// http_addr). Default 127.0.0.1:8080.
	HTTPAddr string `yaml:"http_addr"`
	// MetricsAddr is a separate listen address for /metrics (FLEET_METRICS_ADDR,
	// yaml metrics_addr), served there without authentication for a
	// Prometheus scraper on a private network; the api port then no longer
	// serves /metrics. Default empty: /metrics on the api port, behind the
	// API token.
	MetricsAddr string `yaml:"metrics_addr"`
	// PublicOrigin is the origin (scheme://host[:port]) browsers use to
	// reach the api role when a reverse proxy in front of it rewrites the
	// Host header (FLEET_PUBLIC_ORIGIN, yaml public_origin): writes from it
	// pass the same-origin check. Default empty: only the request's own
	// Host counts as the fleet's origin.
	PublicOrigin string `yaml:"public_origin"`
	// APIToken is the bearer token for the API, dashboard and Asynqmon
	// (FLEET_API_TOKEN, yaml api_token). Default empty: `fleet run` generates
	// one and prints it once. It is a secret and is redacted when printed.
	APIToken string `yaml:"api_token"`
	// JiraWebhookSecret is the HMAC-SHA256 secret Jira signs /webhooks/jira
	// with (FLEET_JIRA_WEBHOOK_SECRET, yaml jira_webhook_secret). Default
	// empty: Jira webhooks are refused with 401. At least 16 characters and
	// different from TicketWebhookSecret. A secret, redacted when printed.
	JiraWebhookSecret string `yaml:"jira_webhook_secret"`
	// TicketWebhookSecret is the Standard Webhooks secret of
	// /webhooks/tickets (FLEET_TICKET_WEBHOOK_SECRET, yaml
	// ticket_webhook_secret): "whsec_<base64>" is the base64-decoded key,
	// anything else is used as bytes. Default empty: ticket webhooks are
	// refused with 401. At least 16 characters. A secret, redacted when
	// printed.
	TicketWebhookSecret string `yaml:"ticket_webhook_secret"`
	// WebhookSecret is retired (FLEET_WEBHOOK_SECRET, yaml webhook_secret):
	// one secret for both webhooks let whoever holds the ticket system's
	// secret forge Jira deliveries and the other way round. Setting it is a
	// validation error naming the two variables that replace it.
	WebhookSecret string `yaml:"webhook_secret"`
	// JiraProjects are the keys of the Jira projects whose issues may
	// onboard tenants (FLEET_JIRA_PROJECTS, comma separated, yaml
	// jira_projects), compared case-insensitively. Default empty: no Jira
	// issue onboards; deliveries are answered 200 and logged.
	JiraProjects []string `yaml:"jira_projects"`
	// JiraIssueTypes narrows Jira onboarding to these issue types, by name
	// or id, case-insensitively (FLEET_JIRA_ISSUE_TYPES, comma separated,
	// yaml jira_issue_types). Default empty: any issue type of an allowed
	// project.
	JiraIssueTypes []string `yaml:"jira_issue_types"`
	// JiraTenantField is a Jira custom field (e.g. customfield_10042) that
	// carries the tenant id, winning over the tenant:<id> label when filled
	// (FLEET_JIRA_TENANT_FIELD, yaml jira_tenant_field). Default empty: labels.
	JiraTenantField string `yaml:"jira_tenant_field"`
	// JiraTierField is a Jira custom field carrying the tier, winning over
	// the tier:<tier> label (FLEET_JIRA_TIER_FIELD, yaml jira_tier_field).
	// Default empty: labels.
	JiraTierField string `yaml:"jira_tier_field"`
	// LogFormat is text or json (FLEET_LOG_FORMAT, yaml log_format). Default text.
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error (FLEET_LOG_LEVEL, yaml log_level).
	// Default info. At debug, /readyz also answers each failed check's
	// error text.
	LogLevel string `yaml:"log_level"`
	// Name is the fleet's name (FLEET_NAME, yaml name): it prefixes the
	// cluster-wide Postgres role names and the Redis keys of this fleet so two
	// fleets on one server never collide. Default tf. Lowercase letters and
	// digits, 1 to 12 characters, starting with a letter.
	Name string `yaml:"name"`
	// ShutdownTimeout bounds a graceful stop: in-flight tasks and HTTP
	// requests get this long before they are returned to the queue or cut
	// (FLEET_SHUTDOWN_TIMEOUT, yaml shutdown_timeout). Default 25s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// WorkerConcurrency is how many tasks one worker runs at once
	// (FLEET_WORKER_CONCURRENCY, yaml worker_concurrency). Default 20.
	WorkerConcurrency int `yaml:"worker_concurrency"`
	// TaskCheckInterval is how often an idle worker polls its queues
	// (FLEET_TASK_CHECK_INTERVAL, yaml task_check_interval). Default 50ms:
	// Asynq's own default of 1s adds about 650ms to an onboarding.
	TaskCheckInterval time.Duration `yaml:"task_check_interval"`
	// Roles are the roles `fleet run` starts when --roles is not given
	// (FLEET_ROLES, comma separated, yaml roles). Default api,scheduler,worker.
	Roles []string `yaml:"roles"`
	// Provider is the instance provider, local or rds (FLEET_PROVIDER, yaml
	// provider). Default local.
	Provider string `yaml:"provider"`
	// LocalAdminURL is the admin URL of the PostgreSQL server on which the
	// local provider creates instances as databases (FLEET_LOCAL_ADMIN_URL,
	// yaml local_admin_url). Default: DatabaseURL with database postgres.
	LocalAdminURL string `yaml:"local_admin_url"`
	// CapacityThreshold is the fill ratio of a shared instance at which the
	// next one is created (FLEET_CAPACITY_THRESHOLD, yaml capacity_threshold).
	// Default 0.8. Between 0 and 1.
	CapacityThreshold float64 `yaml:"capacity_threshold"`
	// MaxTenantsPerInstance is the tenant capacity of a new shared instance
	// (FLEET_MAX_TENANTS_PER_INSTANCE, yaml max_tenants_per_instance).
	// Default 500.
	MaxTenantsPerInstance int `yaml:"max_tenants_per_instance"`
	// AWSRegion is the AWS region of the rds provider (FLEET_AWS_REGION, yaml
	// aws_region). Default us-east-1.
	AWSRegion string `yaml:"aws_region"`
	// RDSEndpoint overrides the RDS API endpoint, for tests and local
	// emulators (FLEET_RDS_ENDPOINT, yaml rds_endpoint). Default empty: AWS.
	RDSEndpoint string `yaml:"rds_endpoint"`
	// SecretKey is the fleet's secret key, from which the passwords of the
	// tenants' own logins derive (FLEET_SECRET_KEY, yaml secret_key): at
	// least 32 bytes, given as hex or base64 (SecretKeyBytes decodes it).
	// Default empty: with the local provider, a key generated once and kept
	// in the control plane; the rds provider requires it. A secret, redacted
	// when printed.
	SecretKey string `yaml:"secret_key"`
	// SecretsManagerEndpoint overrides the AWS Secrets Manager endpoint the
	// rds provider's connector reads instances' master secrets from, for
	// tests and local emulators (FLEET_SECRETSMANAGER_ENDPOINT, yaml
	// secretsmanager_endpoint). Default empty: AWS. An http:// or https://
	// URL.
	SecretsManagerEndpoint string `yaml:"secretsmanager_endpoint"`
	// RDSCABundle is a PEM file of the certificate authorities RDS
	// instances' server certificates must chain to (FLEET_RDS_CA_BUNDLE,
	// yaml rds_ca_bundle): AWS's bundle, downloaded by the operator from
	// https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem.
	// Default empty: the system roots, which on a stock system hold no RDS
	// CA, so connections to RDS fail verification until it is set.
	RDSCABundle string `yaml:"rds_ca_bundle"`
	// Schedule is the scheduler role's configuration (config/schedule.go).
	Schedule Schedule `yaml:",inline"`
	// Health configures the health agent (config/health.go).
	Health Health `yaml:",inline"`
	// Alerts configures the alert engine and its sinks (alerts.go).
	Alerts Alerts `yaml:",inline"`
	// Cost configures the cost agent's advice and prices (config/cost.go).
	Cost Cost `yaml:",inline"`
	// Login configures the dashboard's login (login.go).
	Login Login `yaml:",inline"`
}

// Default returns the configuration with every default filled in.
func Default() Config {
	var c Config
	c.applyDefaults()
	return c
}

// ErrInvalid marks a configuration that failed validation.
var ErrInvalid = errors.New("invalid configuration")

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)

var jiraFieldPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// jiraProjectPattern is a Jira project key (Jira's own rule allows up to
// 255 characters, letters, digits and underscores, starting with a letter).
var jiraProjectPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,254}$`)

// jiraIssueTypePattern is an issue type name or id: printable, no comma.
var jiraIssueTypePattern = regexp.MustCompile(`^[^,\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,255}$`)

// minWebhookSecretLen is the shortest webhook secret accepted.
const minWebhookSecretLen = 16

// KnownRoles are the roles a fleet process can run.
var KnownRoles = []string{"api", "scheduler", "worker"}

// Load reads the configuration from the environment, layered over the YAML
// file named by FLEET_CONFIG when set, fills defaults and validates it.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	if path := getenv("FLEET_CONFIG"); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: read FLEET_CONFIG: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return Config{}, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	var errs []error
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	dur := func(key string, dst *time.Duration) {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a duration such as 5s or 250ms", key, v))
				return
			}
			*dst = d
		}
	}
	integer := func(key string, dst *int) {
		if v := getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a whole number", key, v))
				return
			}
			*dst = n
		}
	}
	float := func(key string, dst *float64) {
		if v := getenv(key); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a number", key, v))
				return
			}
			*dst = f
		}
	}
	str("FLEET_DATABASE_URL", &c.DatabaseURL)
	str("FLEET_REDIS_URL", &c.RedisURL)
	str("FLEET_REDIS_CA_FILE", &c.RedisCAFile)
	str("FLEET_REDIS_CERT_FILE", &c.RedisCertFile)
	str("FLEET_REDIS_KEY_FILE", &c.RedisKeyFile)
	str("FLEET_HTTP_ADDR", &c.HTTPAddr)
	str("FLEET_METRICS_ADDR", &c.MetricsAddr)
	str("FLEET_PUBLIC_ORIGIN", &c.PublicOrigin)
	str("FLEET_API_TOKEN", &c.APIToken)
	str("FLEET_WEBHOOK_SECRET", &c.WebhookSecret)
	str("FLEET_JIRA_WEBHOOK_SECRET", &c.JiraWebhookSecret)
	str("FLEET_TICKET_WEBHOOK_SECRET", &c.TicketWebhookSecret)
	if v := getenv("FLEET_JIRA_PROJECTS"); v != "" {
		c.JiraProjects = SplitList(v)
	}
	if v := getenv("FLEET_JIRA_ISSUE_TYPES"); v != "" {
		c.JiraIssueTypes = SplitList(v)
	}
	str("FLEET_JIRA_TENANT_FIELD", &c.JiraTenantField)
	str("FLEET_JIRA_TIER_FIELD", &c.JiraTierField)
	str("FLEET_LOG_FORMAT", &c.LogFormat)
	str("FLEET_LOG_LEVEL", &c.LogLevel)
	str("FLEET_NAME", &c.Name)
	dur("FLEET_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	integer("FLEET_WORKER_CONCURRENCY", &c.WorkerConcurrency)
	dur("FLEET_TASK_CHECK_INTERVAL", &c.TaskCheckInterval)
	if v := getenv("FLEET_ROLES"); v != "" {
		c.Roles = SplitList(v)
	}
	str("FLEET_PROVIDER", &c.Provider)
	str("FLEET_LOCAL_ADMIN_URL", &c.LocalAdminURL)
	float("FLEET_CAPACITY_THRESHOLD", &c.CapacityThreshold)
	integer("FLEET_MAX_TENANTS_PER_INSTANCE", &c.MaxTenantsPerInstance)
	str("FLEET_AWS_REGION", &c.AWSRegion)
	str("FLEET_RDS_ENDPOINT", &c.RDSEndpoint)
	str("FLEET_SECRET_KEY", &c.SecretKey)
	str("FLEET_SECRETSMANAGER_ENDPOINT", &c.SecretsManagerEndpoint)
	str("FLEET_RDS_CA_BUNDLE", &c.RDSCABundle)
	c.Schedule.applyEnv(getenv, dur, &errs)
	c.Health.applyEnv(dur)
	c.Login.applyEnv(dur, integer)
	c.Alerts.applyEnv(str, dur)
	c.Cost.applyEnv(getenv, str, dur, float, &errs)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func (c *Config) applyDefaults() {
	c.DatabaseURL = cmp.Or(c.DatabaseURL, "postgres://postgres@127.0.0.1:5432/fleet?sslmode=disable")
	c.RedisURL = cmp.Or(c.RedisURL, "redis://127.0.0.1:6379/0")
	c.HTTPAddr = cmp.Or(c.HTTPAddr, "127.0.0.1:8080")
	c.LogFormat = cmp.Or(c.LogFormat, "text")
	c.LogLevel = cmp.Or(c.LogLevel, "info")
	c.Name = cmp.Or(c.Name, "tf")
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, 25*time.Second)
	c.WorkerConcurrency = cmp.Or(c.WorkerConcurrency, 20)
	c.TaskCheckInterval = cmp.Or(c.TaskCheckInterval, 50*time.Millisecond)
	if len(c.Roles) == 0 {
		c.Roles = append([]string(nil), KnownRoles...)
	}
	c.Provider = cmp.Or(c.Provider, "local")
	if c.LocalAdminURL == "" {
		c.LocalAdminURL = WithDatabase(c.DatabaseURL, "postgres")
	}
	c.CapacityThreshold = cmp.Or(c.CapacityThreshold, 0.8)
	c.MaxTenantsPerInstance = cmp.Or(c.MaxTenantsPerInstance, 500)
	c.AWSRegion = cmp.Or(c.AWSRegion, "us-east-1")
	c.Schedule.applyDefaults()
	c.Health.applyDefaults()
	c.Login.applyDefaults()
	c.Alerts.applyDefaults()
	c.Cost.applyDefaults()
}

// Validate reports every invalid field at once, each with its variable name.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for key, raw := range map[string]string{"FLEET_DATABASE_URL": c.DatabaseURL, "FLEET_LOCAL_ADMIN_URL": c.LocalAdminURL} {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			if isKeywordValue(raw) {
				bad("%s must be a postgres:// URL with a host, not a key/value connection string, got %q", key, Redact(raw))
			} else {
				bad("%s must be a postgres:// URL with a host, got %q", key, Redact(raw))
			}
		}
	}
	if err := c.Redis().Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("FLEET_HTTP_ADDR must be host:port, got %q", c.HTTPAddr)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("FLEET_METRICS_ADDR must be host:port, got %q", c.MetricsAddr)
		} else if c.MetricsAddr == c.HTTPAddr {
			bad("FLEET_METRICS_ADDR must differ from FLEET_HTTP_ADDR %q (leave it empty to serve /metrics there, behind the token)", c.HTTPAddr)
		}
	}
	if c.PublicOrigin != "" && !isOrigin(c.PublicOrigin) {
		bad("FLEET_PUBLIC_ORIGIN must be an origin such as https://fleet.example.com (scheme, host, optional port; no path), got %q", Redact(c.PublicOrigin))
	}
	if c.APIToken != "" && len(c.APIToken) < 16 {
		bad("FLEET_API_TOKEN must be at least 16 characters")
	}
	if _, err := c.SecretKeyBytes(); err != nil {
		errs = append(errs, err)
	}
	if c.SecretKey == "" && c.Provider == "rds" {
		bad("FLEET_SECRET_KEY is required with FLEET_PROVIDER=rds (tenant login passwords derive from it)")
	}
	if c.WebhookSecret != "" {
		bad("FLEET_WEBHOOK_SECRET is retired (one secret for both webhooks lets either sender forge the other): " +
			"set FLEET_JIRA_WEBHOOK_SECRET and FLEET_TICKET_WEBHOOK_SECRET to two different secrets")
	}
	for key, secret := range map[string]string{"FLEET_JIRA_WEBHOOK_SECRET": c.JiraWebhookSecret, "FLEET_TICKET_WEBHOOK_SECRET": c.TicketWebhookSecret} {
		if secret != "" && len(secret) < minWebhookSecretLen {
			bad("%s must be at least %d characters", key, minWebhookSecretLen)
		}
	}
	if c.JiraWebhookSecret != "" && c.JiraWebhookSecret == c.TicketWebhookSecret {
		bad("FLEET_JIRA_WEBHOOK_SECRET and FLEET_TICKET_WEBHOOK_SECRET must differ: one source's secret must not sign another's deliveries")
	}
	for _, p := range c.JiraProjects {
		if !jiraProjectPattern.MatchString(p) {
			bad("FLEET_JIRA_PROJECTS must list Jira project keys such as OPS, got %q", p)
		}
	}
	for _, it := range c.JiraIssueTypes {
		if !jiraIssueTypePattern.MatchString(it) {
			bad("FLEET_JIRA_ISSUE_TYPES must list issue type names or ids (printable, up to 255 characters), got %q", it)
		}
	}
	for key, field := range map[string]string{"FLEET_JIRA_TENANT_FIELD": c.JiraTenantField, "FLEET_JIRA_TIER_FIELD": c.JiraTierField} {
		if field != "" && !jiraFieldPattern.MatchString(field) {
			bad("%s must be a Jira field id such as customfield_10042, got %q", key, field)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("FLEET_LOG_FORMAT must be text or json, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("FLEET_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if !namePattern.MatchString(c.Name) {
		bad("FLEET_NAME must be 1-12 lowercase letters or digits starting with a letter, got %q", c.Name)
	}
	if c.ShutdownTimeout <= 0 {
		bad("FLEET_SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout)
	}
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > 1000 {
		bad("FLEET_WORKER_CONCURRENCY must be between 1 and 1000, got %d", c.WorkerConcurrency)
	}
	if c.TaskCheckInterval < time.Millisecond || c.TaskCheckInterval > time.Minute {
		bad("FLEET_TASK_CHECK_INTERVAL must be between 1ms and 1m, got %s", c.TaskCheckInterval)
	}
	if _, err := ParseRoles(c.Roles); err != nil {
		errs = append(errs, err)
	}
	if c.Provider != "local" && c.Provider != "rds" {
		bad("FLEET_PROVIDER must be local or rds, got %q", c.Provider)
	}
	if c.CapacityThreshold <= 0 || c.CapacityThreshold > 1 {
		bad("FLEET_CAPACITY_THRESHOLD must be above 0 and at most 1, got %g", c.CapacityThreshold)
	}
	for key, raw := range map[string]string{"FLEET_RDS_ENDPOINT": c.RDSEndpoint, "FLEET_SECRETSMANAGER_ENDPOINT": c.SecretsManagerEndpoint} {
		if u, err := url.Parse(raw); raw != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			bad("%s must be an http:// or https:// URL, got %q", key, Redact(raw))
		}
	}
	if c.RDSCABundle != "" {
		if info, err := os.Stat(c.RDSCABundle); err != nil || !info.Mode().IsRegular() {
			bad("FLEET_RDS_CA_BUNDLE must name a readable PEM file, got %q", c.RDSCABundle)
		}
	}
	if c.MaxTenantsPerInstance < 1 {
		bad("FLEET_MAX_TENANTS_PER_INSTANCE must be at least 1, got %d", c.MaxTenantsPerInstance)
	}
	c.Schedule.validate(bad)
	c.Health.validate(bad)
	c.Cost.validate(bad)
	c.Login.validate(bad)
	errs = append(errs, c.Alerts.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// ParseRoles checks a list of role names and returns them deduplicated.
func ParseRoles(roles []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, r := range roles {
		known := false
		for _, k := range KnownRoles {
			known = known || r == k
		}
		if !known {
			return nil, fmt.Errorf("unknown role %q: roles are %s", r, strings.Join(KnownRoles, ", "))
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no roles: pick from %s", strings.Join(KnownRoles, ", "))
	}
	return out, nil
}

// SplitList splits a comma-separated list, dropping blanks and spaces.
func SplitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// WithDatabase returns the postgres URL raw pointing at database name.
func WithDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

// WithPoolSize sets pgxpool's pool_max_conns on a database URL unless the
// URL sets it: every concurrent task may hold a control-plane connection,
// and pgxpool's default (the number of CPUs, at least 4) would queue them.
func WithPoolSize(raw string, n int) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if q.Get("pool_max_conns") == "" {
		q.Set("pool_max_conns", strconv.Itoa(n))
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Redis returns the Redis settings, for redisconn.New.
func (c Config) Redis() redisconn.Config {
	return redisconn.Config{URL: c.RedisURL, CAFile: c.RedisCAFile, CertFile: c.RedisCertFile, KeyFile: c.RedisKeyFile}
}

// secretParamPattern matches query parameter names that carry a secret
// (password=, sentinel_password=, sslpassword=, token=...).
var secretParamPattern = regexp.MustCompile(`(?i)pass|secret|token`)

// redactedValue replaces a secret in a printed connection string; the
// same mask url.URL.Redacted uses.
const redactedValue = "xxxxx"

// keywordSecret matches the password=... and sslpassword=... settings of a
// key/value connection string, single-quoted values with backslash escapes
// included.
var keywordSecret = regexp.MustCompile(`(?i)\b(\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

// isKeywordValue reports whether raw looks like a libpq key/value
// connection string (host=db dbname=fleet) rather than a URL.
func isKeywordValue(raw string) bool {
	return !strings.Contains(raw, "://") && strings.Contains(raw, "=")
}

// Redact hides the secrets of a connection string so it can be printed or
// logged: the password of a URL's user info and its password-bearing query
// parameters (password=, sslpassword=, sentinel_password=, token=...), or the password settings of a
// key/value connection string. A string that is neither a URL nor a
// key/value string is not echoed at all.
func Redact(raw string) string {
	if isKeywordValue(raw) {
		return keywordSecret.ReplaceAllString(raw, "${1}"+redactedValue)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "(unparseable URL)"
	}
	if u.RawQuery != "" {
		q := u.Query() // malformed pairs are dropped, never echoed
		for k := range q {
			if secretParamPattern.MatchString(k) {
				q[k] = []string{redactedValue}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// isOrigin reports whether raw is a browser origin: http or https, a host,
// an optional port, nothing else.
func isOrigin(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == ""
}

// Redacted returns a copy safe to print: secrets replaced and passwords
// removed from URLs.
func (c Config) Redacted() Config {
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return "(redacted)"
	}
	c.APIToken = hide(c.APIToken)
	c.WebhookSecret = hide(c.WebhookSecret)
	c.SecretKey = hide(c.SecretKey)
	c.JiraWebhookSecret = hide(c.JiraWebhookSecret)
	c.TicketWebhookSecret = hide(c.TicketWebhookSecret)
	c.JiraProjects = append([]string(nil), c.JiraProjects...)
	c.JiraIssueTypes = append([]string(nil), c.JiraIssueTypes...)
	c.DatabaseURL = Redact(c.DatabaseURL)
	c.RedisURL = Redact(c.RedisURL)
	c.LocalAdminURL = Redact(c.LocalAdminURL)
	c.Roles = append([]string(nil), c.Roles...)
	c.Alerts = c.Alerts.redacted()
	c.Cost.Classes, c.Cost.InstanceClasses = maps.Clone(c.Cost.Classes), maps.Clone(c.Cost.InstanceClasses)
	return c
}
