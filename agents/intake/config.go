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
	"github.com/tenantfleet/tenantfleet/queue/outbox"
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
	// Config holds the outbox's knobs: MaxRetry (the tenant:onboard
	// task's retry budget) defaults to 8, WaitPoll (how often Wait reads a
	// request's status) to 500ms, the others as documented on
	// outbox.Config.
	outbox.Config
	// Logger receives intake logs; secrets and signatures are never
	// logged. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock the replay window is checked against. Default
	// time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultReplayWindow = 5 * time.Minute
	DefaultMaxRetry     = 8
	DefaultWaitPoll     = 500 * time.Millisecond
)

func (c Config) withDefaults() Config {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.ReplayWindow = cmp.Or(c.ReplayWindow, DefaultReplayWindow)
	c.Config = c.WithDefaults(outbox.Defaults{MaxRetry: DefaultMaxRetry, WaitPoll: DefaultWaitPoll})
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Jira = c.Jira.withDefaults()
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("MaxBodyBytes must not be negative"))
	}
	if c.ReplayWindow < 0 {
		errs = append(errs, errors.New("ReplayWindow must not be negative"))
	}
	errs = append(errs, c.Problems(c.DB, c.Queue)...)
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
