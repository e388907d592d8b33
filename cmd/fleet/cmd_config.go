package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/tenantfleet/tenantfleet/config"
)

func init() {
	commands["config"] = command{
		summary: "print the effective configuration, secrets redacted",
		run:     runConfig,
	}
}

func runConfig(_ context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, err := config.Load(env.getenv)
	if err != nil {
		return err
	}
	if isRemote(env) {
		fmt.Fprintf(env.stderr, "note: %s is set: the other commands go to it; this is this machine's own configuration\n", envServer)
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(configView(cfg.Redacted()))
}

// configView prints durations as text rather than nanoseconds.
func configView(c config.Config) map[string]any {
	return map[string]any{
		"database_url":              c.DatabaseURL,
		"redis_url":                 c.RedisURL,
		"redis_ca_file":             c.RedisCAFile,
		"redis_cert_file":           c.RedisCertFile,
		"redis_key_file":            c.RedisKeyFile,
		"http_addr":                 c.HTTPAddr,
		"metrics_addr":              c.MetricsAddr,
		"public_origin":             c.PublicOrigin,
		"api_token":                 c.APIToken,
		"webhook_secret":            c.WebhookSecret,
		"jira_webhook_secret":       c.JiraWebhookSecret,
		"ticket_webhook_secret":     c.TicketWebhookSecret,
		"jira_projects":             c.JiraProjects,
		"jira_issue_types":          c.JiraIssueTypes,
		"jira_tenant_field":         c.JiraTenantField,
		"jira_tier_field":           c.JiraTierField,
		"log_format":                c.LogFormat,
		"log_level":                 c.LogLevel,
		"name":                      c.Name,
		"shutdown_timeout":          c.ShutdownTimeout.String(),
		"worker_concurrency":        c.WorkerConcurrency,
		"task_check_interval":       c.TaskCheckInterval.String(),
		"roles":                     c.Roles,
		"provider":                  c.Provider,
		"local_admin_url":           c.LocalAdminURL,
		"capacity_threshold":        c.CapacityThreshold,
		"max_tenants_per_instance":  c.MaxTenantsPerInstance,
		"aws_region":                c.AWSRegion,
		"rds_endpoint":              c.RDSEndpoint,
		"secretsmanager_endpoint":   c.SecretsManagerEndpoint,
		"rds_ca_bundle":             c.RDSCABundle,
		"secret_key":                c.SecretKey,
		"health_interval":           c.Schedule.HealthInterval.String(),
		"pool_watch_interval":       c.Schedule.PoolWatchInterval.String(),
		"cost_schedule":             c.Schedule.CostSchedule,
		"batch_jobs":                batchJobsView(c.Schedule.BatchJobs),
		"cost_dedicated_share":      c.Cost.DedicatedShare,
		"cost_shared_share":         c.Cost.SharedShare,
		"cost_min_window":           c.Cost.MinWindow.String(),
		"cost_storage_gb_month_usd": c.Cost.StorageGBMonthUSD,
		"cost_replica_hourly_usd":   c.Cost.ReplicaHourlyUSD,
		"cost_default_class":        c.Cost.DefaultClass,
		"cost_classes":              c.Cost.Classes,
		"cost_instance_classes":     c.Cost.InstanceClasses,
	}
}

// batchJobsView prints batch timings as "period/window".
func batchJobsView(jobs map[string]config.BatchTiming) map[string]string {
	out := make(map[string]string, len(jobs))
	for kind, t := range jobs {
		out[kind] = t.Period.String() + "/" + t.Window.String()
	}
	return out
}
