// Package alertsinks delivers the alert engine's notifications
// (agents/alerts) to the services teams page and chat with: the process
// log, a signed JSON webhook, Slack, PagerDuty Events API v2 and Prometheus
// Alertmanager. Each sink maps its service's answers onto the engine's
// retry rules (ErrPermanent, RateLimitedError with the service's
// Retry-After) and never puts its URL or key in an error.
package alertsinks
