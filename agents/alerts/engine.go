package alerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Config configures an Engine.
type Config struct {
	// Store is the control plane. Required.
	Store *controlplane.Store
	// Sinks receive the notifications; the engine adds none itself, so
	// wire the log sink too. A process that only records (a CLI) may pass
	// the same sinks as the fleet: deliveries go to the sinks named here.
	Sinks []Sink
	// Fleet is the fleet's name, given to sinks. Required.
	Fleet string
	// RepeatInterval is how long a firing, unacknowledged alert waits
	// before it is notified again. Default 4h.
	RepeatInterval time.Duration
	// DeliveryInterval is how often Start's loop delivers the outbox
	// (retries, refreshes). Default 2s.
	DeliveryInterval time.Duration
	// RetryBase is the first retry delay of a failed delivery, doubled at
	// each attempt up to RetryMax. Default 1s.
	RetryBase time.Duration
	// RetryMax caps the retry delay. Default 5m.
	RetryMax time.Duration
	// MaxAttempts is how many deliveries of one notification are tried
	// before it is given up. Default 12.
	MaxAttempts int
	// SendTimeout bounds one delivery; a claim is leased for twice it.
	// Default 10s.
	SendTimeout time.Duration
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Store == nil || c.Fleet == "" {
		return errors.New("alerts: config needs a Store and a Fleet")
	}
	seen := map[string]bool{}
	for _, s := range c.Sinks {
		if seen[s.Name()] {
			return fmt.Errorf("alerts: two sinks named %q", s.Name())
		}
		seen[s.Name()] = true
	}
	c.RepeatInterval = cmp.Or(c.RepeatInterval, 4*time.Hour)
	c.DeliveryInterval = cmp.Or(c.DeliveryInterval, 2*time.Second)
	c.RetryBase = cmp.Or(c.RetryBase, time.Second)
	c.RetryMax = cmp.Or(c.RetryMax, 5*time.Minute)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 12)
	c.SendTimeout = cmp.Or(c.SendTimeout, 10*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return nil
}

// Engine records alerts and delivers their notifications. Safe for
// concurrent use, and beside engines of other processes on the same
// control plane.
type Engine struct {
	cfg     Config
	metrics *deliveryMetrics
	pacers  map[string]*pacer
	kicks   chan struct{}

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// New returns an Engine; call Start to deliver in the background.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, metrics: newDeliveryMetrics(), pacers: map[string]*pacer{}, kicks: make(chan struct{}, 1)}
	for _, s := range cfg.Sinks {
		if p, ok := s.(Paced); ok {
			e.pacers[s.Name()] = &pacer{every: p.MinInterval()}
		}
	}
	return e, nil
}

// Outcome is what one observation did.
type Outcome struct {
	// Alert is the alert after the observation; zero when a cleared
	// condition had no open alert.
	Alert Alert
	// Notified is the event handed to the sinks, empty when none was.
	Notified Event
	// Inhibited and Silenced tell why an alert that is due was not
	// notified.
	Inhibited bool
	Silenced  bool
}

// Raise reports that c is true now.
func (e *Engine) Raise(ctx context.Context, c Condition) (Outcome, error) {
	return e.Observe(ctx, c, true)
}

// Clear reports that the condition kind on subject is not true now.
func (e *Engine) Clear(ctx context.Context, kind Kind, subject string) (Outcome, error) {
	return e.Observe(ctx, Condition{Kind: kind, Subject: subject}, false)
}

// Observe reports the state of condition c now: active true raises or
// keeps its alert (notifying it when it is new, or when the repeat
// interval passed and nobody acknowledged it), false resolves it. A
// checker calls it on every pass with what it found, level-triggered, and
// the engine works out what changed.
func (e *Engine) Observe(ctx context.Context, c Condition, active bool) (Outcome, error) {
	c, err := c.normalize()
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	err = e.retryConflicts(ctx, func() error {
		out = Outcome{}
		return e.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
			if active {
				return e.raise(ctx, tx, c, &out)
			}
			return e.resolve(ctx, tx, DedupKey(c.Kind, c.Subject), &out)
		})
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("alerts: observe %s: %w", DedupKey(c.Kind, c.Subject), err)
	}
	if out.Notified != "" {
		e.logEvent(ctx, out.Notified, out.Alert)
		e.Kick()
	}
	return out, nil
}

func (e *Engine) raise(ctx context.Context, tx *controlplane.Store, c Condition, out *Outcome) error {
	up, err := tx.UpsertOpenAlert(ctx, controlplane.AlertUpsert{
		DedupKey: DedupKey(c.Kind, c.Subject), Kind: string(c.Kind), Subject: c.Subject,
		InstanceID: c.Instance, TenantID: c.Tenant, Severity: string(c.Severity), Summary: c.Summary,
		Details: c.Details, AffectedTenants: c.Affected,
	})
	if err != nil {
		return err
	}
	a := up.Alert
	if c.Kind == InstanceDown && c.Instance != "" {
		if _, err := tx.InhibitInstanceAlerts(ctx, c.Instance, a.ID, string(InstanceDown)); err != nil {
			return err
		}
	}
	if c.tenantLevel() {
		// An inhibitor that resolved stays recorded (the incident keeps
		// listing the tenant); only an open one mutes.
		by, err := tx.OpenAlertOfKind(ctx, string(InstanceDown), c.Instance)
		if err != nil {
			return err
		}
		if by != 0 && by != a.InhibitedBy {
			if err := tx.SetAlertInhibitedBy(ctx, a.ID, by); err != nil {
				return err
			}
			a.InhibitedBy = by
		}
		out.Inhibited = by != 0
	}
	silenced, err := tx.AlertSilenced(ctx, a.Kind, a.Subject, a.InstanceID, a.TenantID)
	if err != nil {
		return err
	}
	out.Silenced = silenced
	event := e.due(a, up.Now, out.Inhibited || silenced)
	if event != "" {
		if err := tx.MarkAlertNotified(ctx, a.ID); err != nil {
			return err
		}
		if err := tx.EnqueueAlertNotifications(ctx, a.ID, string(event), e.sinksFor(event)); err != nil {
			return err
		}
		a.NotifiedAt, a.Notifications = &up.Now, a.Notifications+1
	}
	out.Alert, out.Notified = viewAlert(a), event
	return nil
}

// due decides what an observation of open alert a at now notifies.
func (e *Engine) due(a controlplane.Alert, now time.Time, muted bool) Event {
	switch {
	case muted:
		return ""
	case a.NotifiedAt == nil:
		return EventTrigger
	case a.AckedAt != nil:
		return ""
	case now.Sub(*a.NotifiedAt) >= e.cfg.RepeatInterval:
		return EventRepeat
	}
	return ""
}

func (e *Engine) resolve(ctx context.Context, tx *controlplane.Store, key string, out *Outcome) error {
	a, ok, err := tx.ResolveOpenAlert(ctx, key)
	if err != nil || !ok {
		return err
	}
	out.Alert = viewAlert(a)
	if a.NotifiedAt == nil {
		return nil // never told anyone: nothing to take back
	}
	out.Notified = EventResolve
	return tx.EnqueueAlertNotifications(ctx, a.ID, string(EventResolve), e.sinksFor(EventResolve))
}

// Ack acknowledges open alert id for by: it stops repeating, and the sinks
// that know acknowledgements (PagerDuty, Slack, the webhook) are told.
// A resolved or unknown alert is an error wrapping
// controlplane.ErrAlertNotFound.
func (e *Engine) Ack(ctx context.Context, id int64, by string) (Alert, error) {
	if err := validateActor(by); err != nil {
		return Alert{}, err
	}
	var out Alert
	notified := false
	err := e.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		a, changed, err := tx.AckAlert(ctx, id, by)
		if err != nil {
			return err
		}
		out = viewAlert(a)
		if !changed || a.NotifiedAt == nil {
			return nil
		}
		notified = true
		return tx.EnqueueAlertNotifications(ctx, a.ID, string(EventAcknowledge), e.sinksFor(EventAcknowledge))
	})
	if err != nil {
		return Alert{}, fmt.Errorf("alerts: acknowledge %d: %w", id, err)
	}
	if notified {
		e.logEvent(ctx, EventAcknowledge, out)
		e.Kick()
	}
	return out, nil
}

// MaxSilence is the longest silence accepted.
const MaxSilence = 90 * 24 * time.Hour

// maxReason bounds a silence's reason.
const maxReason = 500

// Silence mutes the notifications of subject (an alert subject, an
// instance id or a tenant id), of kind only when kind is not empty, for d
// (1s to MaxSilence). Alerts are still recorded; one that is still firing
// when the silence ends is notified at its next observation.
func (e *Engine) Silence(ctx context.Context, subject string, kind Kind, d time.Duration, reason, by string) (Silence, error) {
	if err := validateSubject("subject", subject, true); err != nil {
		return Silence{}, err
	}
	if kind != "" {
		if err := kind.validate(); err != nil {
			return Silence{}, err
		}
	}
	if d < time.Second || d > MaxSilence {
		return Silence{}, fmt.Errorf("%w: a silence lasts 1s to %s, got %s", ErrInvalid, MaxSilence, d)
	}
	if len(reason) > maxReason {
		return Silence{}, fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, maxReason)
	}
	if err := validateActor(by); err != nil {
		return Silence{}, err
	}
	s, err := e.cfg.Store.CreateAlertSilence(ctx, subject, string(kind), reason, by, d)
	if err != nil {
		return Silence{}, fmt.Errorf("alerts: silence %s: %w", subject, err)
	}
	e.cfg.Logger.InfoContext(ctx, "alerts silenced", slog.String("subject", subject), slog.String("kind", string(kind)),
		slog.Duration("for", d), slog.String("by", by))
	return viewSilence(s), nil
}

// ListFilter selects alerts for List.
type ListFilter = controlplane.AlertFilter

// List returns the alerts f selects, newest first.
// A filter with an unknown kind, a malformed subject or a limit outside 0
// to MaxListLimit is refused with ErrInvalid before any SQL.
func (e *Engine) List(ctx context.Context, f ListFilter) ([]Alert, error) {
	if err := validateFilter(f); err != nil {
		return nil, err
	}
	rows, err := e.cfg.Store.ListAlerts(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Alert, len(rows))
	for i, r := range rows {
		out[i] = viewAlert(r)
	}
	return out, nil
}

// MaxListLimit bounds ListFilter.Limit.
const MaxListLimit = 1000

func validateFilter(f ListFilter) error {
	if f.Kind != "" {
		if err := Kind(f.Kind).validate(); err != nil {
			return err
		}
	}
	if err := validateSubject("subject", f.Subject, false); err != nil {
		return err
	}
	if f.Limit < 0 || f.Limit > MaxListLimit {
		return fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	return nil
}

// Get returns alert id.
func (e *Engine) Get(ctx context.Context, id int64) (Alert, error) {
	a, err := e.cfg.Store.GetAlert(ctx, id)
	if err != nil {
		return Alert{}, err
	}
	return viewAlert(a), nil
}

// Silences returns the active silences.
func (e *Engine) Silences(ctx context.Context) ([]Silence, error) {
	rows, err := e.cfg.Store.ActiveAlertSilences(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Silence, len(rows))
	for i, r := range rows {
		out[i] = viewSilence(r)
	}
	return out, nil
}

// sinksFor names the configured sinks that want event.
func (e *Engine) sinksFor(event Event) []string {
	var names []string
	for _, s := range e.cfg.Sinks {
		if s.Handles(event) {
			names = append(names, s.Name())
		}
	}
	return names
}

func (e *Engine) logEvent(ctx context.Context, event Event, a Alert) {
	e.cfg.Logger.InfoContext(ctx, "alert "+string(event), slog.Int64("alert", a.ID), slog.String("kind", string(a.Kind)),
		slog.String("subject", a.Subject), slog.String("severity", string(a.Severity)))
}

// conflictAttempts bounds retries of an observation that lost a deadlock
// or serialization race against another process.
const conflictAttempts = 5

func (e *Engine) retryConflicts(ctx context.Context, fn func() error) error {
	var err error
	for range conflictAttempts {
		if err = fn(); !isConflict(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// validateActor checks who acknowledges or silences.
func validateActor(by string) error {
	if len(by) > 200 {
		return fmt.Errorf("%w: actor longer than 200 bytes", ErrInvalid)
	}
	return nil
}
