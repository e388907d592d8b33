package intake

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/stdwebhook"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Config configures an Intake.
type Config struct {
	// DB is the control-plane pool holding intake_requests and audit_log.
	// Required.
	DB *pgxpool.Pool
	// Queue enqueues the tenant:onboard tasks. Required.
	Queue *queue.Client

	// JiraSecret is the HMAC-SHA256 secret Jira signs webhooks with
	// (X-Hub-Signature: sha256=<hex>); FLEET_JIRA_WEBHOOK_SECRET in the
	// fleet binary. Empty: every Jira webhook gets 401.
	JiraSecret string
	// TicketSecret is the Standard Webhooks secret of the generic ticket
	// webhook (FLEET_TICKET_WEBHOOK_SECRET in the fleet binary), never the
	// Jira one: "whsec_<base64>" is the base64-decoded key, anything else
	// is used as raw bytes. Empty: every ticket webhook gets 401.
	TicketSecret string
	// Jira maps Jira issues to requests. Defaults as documented on
	// JiraMapping.
	Jira JiraMapping

	// MaxBodyBytes bounds a request body; larger bodies get 413.
	// Default 1 MiB.
	MaxBodyBytes int64
	// ReplayWindow is how far a ticket webhook's timestamp may be from the
	// clock, either way. Default 5m.
	ReplayWindow time.Duration
	// MaxRetry is the tenant:onboard task's retry budget. Default 8;
	// negative means no retry.
	MaxRetry int
	// ReconcileMinAge is how long a request stays untouched before the
	// reconciler re-enqueues it, so it does not race a fresh intake.
	// Default 10s; negative means no minimum.
	ReconcileMinAge time.Duration
	// ReconcileBatch is how many requests the reconciler reads per query.
	// Default 500.
	ReconcileBatch int
	// ReconcileEvery is the period of the reconciler entry registered by
	// RegisterSchedule. Default 10s.
	ReconcileEvery time.Duration
	// WaitPoll is how often Wait reads a request's status. Default 500ms.
	WaitPoll time.Duration
	// Logger receives intake logs; secrets and signatures are never
	// logged. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock the replay window is checked against. Default
	// time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultReplayWindow    = 5 * time.Minute
	DefaultMaxRetry        = 8
	DefaultReconcileMinAge = 10 * time.Second
	DefaultReconcileBatch  = 500
	DefaultReconcileEvery  = 10 * time.Second
	DefaultWaitPoll        = 500 * time.Millisecond
)

func (c Config) withDefaults() Config {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.ReplayWindow = cmp.Or(c.ReplayWindow, DefaultReplayWindow)
	switch {
	case c.MaxRetry == 0:
		c.MaxRetry = DefaultMaxRetry
	case c.MaxRetry < 0:
		c.MaxRetry = 0
	}
	switch {
	case c.ReconcileMinAge == 0:
		c.ReconcileMinAge = DefaultReconcileMinAge
	case c.ReconcileMinAge < 0:
		c.ReconcileMinAge = 0
	}
	c.ReconcileBatch = cmp.Or(c.ReconcileBatch, DefaultReconcileBatch)
	c.ReconcileEvery = cmp.Or(c.ReconcileEvery, DefaultReconcileEvery)
	c.WaitPoll = cmp.Or(c.WaitPoll, DefaultWaitPoll)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Jira = c.Jira.withDefaults()
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("a DB pool is required"))
	}
	if c.Queue == nil {
		errs = append(errs, errors.New("a Queue client is required"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("MaxBodyBytes must not be negative"))
	}
	if c.ReplayWindow < 0 {
		errs = append(errs, errors.New("ReplayWindow must not be negative"))
	}
	if c.ReconcileBatch < 0 {
		errs = append(errs, errors.New("ReconcileBatch must not be negative"))
	}
	if c.ReconcileEvery < time.Second {
		errs = append(errs, errors.New("ReconcileEvery must be at least 1s"))
	}
	if c.WaitPoll < 0 {
		errs = append(errs, errors.New("WaitPoll must not be negative"))
	}
	if _, err := ticketKey(c.TicketSecret); err != nil {
		errs = append(errs, err)
	}
	if err := c.Jira.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("intake: config: %w", err)
	}
	return nil
}

// ticketKey decodes a Standard Webhooks secret: "whsec_<base64>" is the
// decoded key, anything else the raw bytes. The error never quotes it.
func ticketKey(secret string) ([]byte, error) {
	key, err := stdwebhook.DecodeSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("TicketSecret: %w", err)
	}
	return key, nil
}
