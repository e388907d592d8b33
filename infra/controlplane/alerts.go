package controlplane

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrAlertNotFound marks an alert id that is not stored, or an open alert
// that is no longer open.
var ErrAlertNotFound = errors.New("controlplane: alert not found")

// Alert is one stored alert: an episode of a condition, from the first
// observation that it is true to the one that it is not (ResolvedAt).
type Alert struct {
	ID         int64
	DedupKey   string
	Kind       string
	Subject    string
	InstanceID string
	TenantID   string
	Severity   string
	Summary    string
	Details    map[string]any
	// AffectedTenants are the tenants an instance-level incident affects:
	// the ones its checker reported plus those of the alerts it inhibits.
	AffectedTenants []string
	// InhibitedBy is the id of the instance_down alert that muted this
	// one (it may have resolved since), 0 when none did.
	InhibitedBy   int64
	StartedAt     time.Time
	LastSeenAt    time.Time
	ResolvedAt    *time.Time
	NotifiedAt    *time.Time
	Notifications int
	AckedAt       *time.Time
	AckedBy       string
}

// Open reports whether the alert's condition is still true.
func (a Alert) Open() bool { return a.ResolvedAt == nil }

// AlertUpsert is one observation that a condition is true, as stored.
type AlertUpsert struct {
	DedupKey        string
	Kind            string
	Subject         string
	InstanceID      string
	TenantID        string
	Severity        string
	Summary         string
	Details         map[string]any
	AffectedTenants []string
}

// AlertUpserted is the open alert after an observation, locked by the
// caller's transaction until it commits.
type AlertUpserted struct {
	Alert Alert
	// Inserted is true when the observation opened the alert.
	Inserted bool
	// Now is the database's clock at the observation, so every process
	// measures repeat intervals on one clock.
	Now time.Time
}

// alertColumns reads an alert row aliased a, its affected tenants merged
// with those of the alerts it inhibits.
const alertColumns = `a.id, a.dedup_key, a.kind, a.subject, a.instance_id, a.tenant_id, a.severity, a.summary, a.details,
	ARRAY(SELECT DISTINCT t FROM unnest(a.affected_tenants ||
		ARRAY(SELECT i.tenant_id FROM alerts i WHERE i.inhibited_by = a.id AND i.tenant_id <> '')) t ORDER BY t),
	coalesce(a.inhibited_by, 0), a.started_at, a.last_seen_at, a.resolved_at, a.notified_at, a.notifications,
	a.acked_at, a.acked_by`

func scanAlert(row pgx.Row, extra ...any) (Alert, error) {
	var a Alert
	var details []byte
	dest := append([]any{&a.ID, &a.DedupKey, &a.Kind, &a.Subject, &a.InstanceID, &a.TenantID, &a.Severity, &a.Summary, &details,
		&a.AffectedTenants, &a.InhibitedBy, &a.StartedAt, &a.LastSeenAt, &a.ResolvedAt, &a.NotifiedAt, &a.Notifications,
		&a.AckedAt, &a.AckedBy}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Alert{}, err
	}
	if err := json.Unmarshal(details, &a.Details); err != nil {
		return Alert{}, fmt.Errorf("alert %d details: %w", a.ID, err)
	}
	return a, nil
}

// upsertAlertSQL opens the alert of a dedup key or, when one is open,
// refreshes it. The partial unique index serialises concurrent
// observations of one key: the second waits for the first to commit and
// then updates the row the first inserted.
const upsertAlertSQL = `INSERT INTO alerts AS a
	(dedup_key, kind, subject, instance_id, tenant_id, severity, summary, details, affected_tenants)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (dedup_key) WHERE resolved_at IS NULL DO UPDATE SET
	last_seen_at = now(), severity = EXCLUDED.severity, summary = EXCLUDED.summary, details = EXCLUDED.details,
	affected_tenants = ARRAY(SELECT DISTINCT t FROM unnest(a.affected_tenants || EXCLUDED.affected_tenants) t ORDER BY t)
RETURNING ` + alertColumns + `, (a.xmax = 0), now()`

// UpsertOpenAlert records that the condition of u.DedupKey is true now:
// it opens an alert or refreshes the open one, and leaves the row locked
// for the rest of the caller's transaction (call it inside Tx).
func (s *Store) UpsertOpenAlert(ctx context.Context, u AlertUpsert) (AlertUpserted, error) {
	details, err := json.Marshal(nonNilDetails(u.Details))
	if err != nil {
		return AlertUpserted{}, fmt.Errorf("controlplane: alert details: %w", err)
	}
	affected := u.AffectedTenants
	if affected == nil {
		affected = []string{}
	}
	var out AlertUpserted
	out.Alert, err = scanAlert(s.db.QueryRow(ctx, upsertAlertSQL, u.DedupKey, u.Kind, u.Subject, u.InstanceID, u.TenantID,
		u.Severity, u.Summary, details, affected), &out.Inserted, &out.Now)
	if err != nil {
		return AlertUpserted{}, fmt.Errorf("controlplane: upsert alert %s: %w", u.DedupKey, err)
	}
	return out, nil
}

func nonNilDetails(d map[string]any) map[string]any {
	if d == nil {
		return map[string]any{}
	}
	return d
}

// resolveAlertSQL closes the open alert of a dedup key.
const resolveAlertSQL = `UPDATE alerts AS a SET resolved_at = now(), last_seen_at = now()
WHERE a.dedup_key = $1 AND a.resolved_at IS NULL
RETURNING ` + alertColumns

// ResolveOpenAlert closes the open alert of dedupKey and returns it; ok is
// false when none was open (the condition was already clear).
func (s *Store) ResolveOpenAlert(ctx context.Context, dedupKey string) (a Alert, ok bool, err error) {
	a, err = scanAlert(s.db.QueryRow(ctx, resolveAlertSQL, dedupKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return Alert{}, false, nil
	}
	if err != nil {
		return Alert{}, false, fmt.Errorf("controlplane: resolve alert %s: %w", dedupKey, err)
	}
	return a, true, nil
}

// OpenAlertOfKind returns the id of the open alert of kind on instance, 0
// when there is none.
func (s *Store) OpenAlertOfKind(ctx context.Context, kind, instanceID string) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id FROM alerts WHERE kind = $1 AND instance_id = $2 AND resolved_at IS NULL
		ORDER BY id LIMIT 1`, kind, instanceID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("controlplane: open %s alert of %s: %w", kind, instanceID, err)
	}
	return id, nil
}

// SetAlertInhibitedBy records which alert mutes alert id.
func (s *Store) SetAlertInhibitedBy(ctx context.Context, id, by int64) error {
	if _, err := s.db.Exec(ctx, `UPDATE alerts SET inhibited_by = $2 WHERE id = $1`, id, by); err != nil {
		return fmt.Errorf("controlplane: inhibit alert %d: %w", id, err)
	}
	return nil
}

// InhibitInstanceAlerts makes alert by mute every open tenant-level alert
// on instanceID other than those of kind except, and returns how many it
// muted.
func (s *Store) InhibitInstanceAlerts(ctx context.Context, instanceID string, by int64, except string) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE alerts SET inhibited_by = $2
		WHERE instance_id = $1 AND tenant_id <> '' AND kind <> $3 AND resolved_at IS NULL
		  AND inhibited_by IS DISTINCT FROM $2`, instanceID, by, except)
	if err != nil {
		return 0, fmt.Errorf("controlplane: inhibit alerts of %s: %w", instanceID, err)
	}
	return tag.RowsAffected(), nil
}

// AlertSilenced reports whether an active silence matches an alert: its
// subject is the alert's subject, instance or tenant, and its kind is
// empty or the alert's kind.
func (s *Store) AlertSilenced(ctx context.Context, kind, subject, instanceID, tenantID string) (bool, error) {
	var silenced bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alert_silences
		WHERE subject IN ($2, nullif($3, ''), nullif($4, '')) AND kind IN ('', $1) AND ends_at > now())`,
		kind, subject, instanceID, tenantID).Scan(&silenced)
	if err != nil {
		return false, fmt.Errorf("controlplane: read silences of %s: %w", subject, err)
	}
	return silenced, nil
}

// MarkAlertNotified records that alert id was handed to the sinks now (a
// trigger or a repeat).
func (s *Store) MarkAlertNotified(ctx context.Context, id int64) error {
	if _, err := s.db.Exec(ctx, `UPDATE alerts SET notified_at = now(), notifications = notifications + 1 WHERE id = $1`, id); err != nil {
		return fmt.Errorf("controlplane: mark alert %d notified: %w", id, err)
	}
	return nil
}

// AckAlert acknowledges the open alert id for by and returns it; an alert
// acknowledged before keeps its first acknowledgement (changed is false).
// A resolved or unknown alert is ErrAlertNotFound.
func (s *Store) AckAlert(ctx context.Context, id int64, by string) (a Alert, changed bool, err error) {
	a, err = scanAlert(s.db.QueryRow(ctx, `UPDATE alerts AS a SET acked_at = now(), acked_by = $2
		WHERE a.id = $1 AND a.resolved_at IS NULL AND a.acked_at IS NULL RETURNING `+alertColumns, id, by))
	if err == nil {
		return a, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Alert{}, false, fmt.Errorf("controlplane: acknowledge alert %d: %w", id, err)
	}
	a, err = s.GetAlert(ctx, id)
	if err != nil {
		return Alert{}, false, err
	}
	if !a.Open() {
		return Alert{}, false, fmt.Errorf("%w: alert %d is resolved", ErrAlertNotFound, id)
	}
	return a, false, nil
}

// GetAlert returns alert id, or ErrAlertNotFound.
func (s *Store) GetAlert(ctx context.Context, id int64) (Alert, error) {
	a, err := scanAlert(s.db.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts a WHERE a.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Alert{}, fmt.Errorf("%w: %d", ErrAlertNotFound, id)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("controlplane: get alert %d: %w", id, err)
	}
	return a, nil
}

// AlertFilter selects alerts for ListAlerts; zero fields match everything.
type AlertFilter struct {
	// OpenOnly keeps the alerts whose condition is still true.
	OpenOnly bool
	Kind     string
	// Subject matches the alert's subject, instance or tenant.
	Subject string
	// Limit bounds the result, newest first. Default 100.
	Limit int
}

// ListAlerts returns the alerts f selects, newest first.
func (s *Store) ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.Query(ctx, `SELECT `+alertColumns+` FROM alerts a
		WHERE (NOT $1 OR a.resolved_at IS NULL) AND ($2 = '' OR a.kind = $2)
		  AND ($3 = '' OR $3 IN (a.subject, a.instance_id, a.tenant_id))
		ORDER BY a.started_at DESC, a.id DESC LIMIT $4`, f.OpenOnly, f.Kind, f.Subject, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list alerts: %w", err)
	}
	return out, nil
}

// AlertCount is how many open alerts share a kind and severity, and how
// many of them an open instance_down mutes.
type AlertCount struct {
	Kind      string
	Severity  string
	Open      int
	Inhibited int
}

// CountOpenAlerts counts the open alerts by kind and severity.
func (s *Store) CountOpenAlerts(ctx context.Context) ([]AlertCount, error) {
	rows, err := s.db.Query(ctx, `SELECT a.kind, a.severity, count(*),
		count(*) FILTER (WHERE EXISTS (SELECT 1 FROM alerts i WHERE i.id = a.inhibited_by AND i.resolved_at IS NULL))
		FROM alerts a WHERE a.resolved_at IS NULL GROUP BY a.kind, a.severity ORDER BY a.kind, a.severity`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: count open alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AlertCount])
	if err != nil {
		return nil, fmt.Errorf("controlplane: count open alerts: %w", err)
	}
	return out, nil
}

// AlertSilence mutes the notifications of matching alerts until EndsAt.
type AlertSilence struct {
	ID int64
	// Subject is an alert subject, instance id or tenant id.
	Subject string
	// Kind narrows the silence to one kind; empty: every kind.
	Kind      string
	Reason    string
	CreatedBy string
	CreatedAt time.Time
	EndsAt    time.Time
}

// CreateAlertSilence stores a silence of subject (and kind) lasting d.
func (s *Store) CreateAlertSilence(ctx context.Context, subject, kind, reason, by string, d time.Duration) (AlertSilence, error) {
	rows, err := s.db.Query(ctx, `INSERT INTO alert_silences (subject, kind, reason, created_by, ends_at)
		VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
		RETURNING id, subject, kind, reason, created_by, created_at, ends_at`, subject, kind, reason, by, d.Seconds())
	if err != nil {
		return AlertSilence{}, fmt.Errorf("controlplane: create silence of %s: %w", subject, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[AlertSilence])
	if err != nil {
		return AlertSilence{}, fmt.Errorf("controlplane: create silence of %s: %w", subject, err)
	}
	return out, nil
}

// ActiveAlertSilences returns the silences that have not ended, the
// soonest-ending first.
func (s *Store) ActiveAlertSilences(ctx context.Context) ([]AlertSilence, error) {
	rows, err := s.db.Query(ctx, `SELECT id, subject, kind, reason, created_by, created_at, ends_at
		FROM alert_silences WHERE ends_at > now() ORDER BY ends_at, id`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list silences: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AlertSilence])
	if err != nil {
		return nil, fmt.Errorf("controlplane: list silences: %w", err)
	}
	return out, nil
}

// EnqueueAlertNotifications adds one pending notification of event for
// alert id to each sink's outbox.
func (s *Store) EnqueueAlertNotifications(ctx context.Context, id int64, event string, sinks []string) error {
	if len(sinks) == 0 {
		return nil
	}
	_, err := s.db.Exec(ctx, `INSERT INTO alert_notifications (alert_id, sink, event)
		SELECT $1, sink, $2 FROM unnest($3::text[]) sink`, id, event, sinks)
	if err != nil {
		return fmt.Errorf("controlplane: enqueue %s of alert %d: %w", event, id, err)
	}
	return nil
}

// AlertDelivery is one claimed notification with the alert it is about.
type AlertDelivery struct {
	ID    int64
	Sink  string
	Event string
	// Attempts counts the claims, this one included.
	Attempts  int
	CreatedAt time.Time
	Alert     Alert
}

// claimSQL leases due notifications of the given sinks: for each alert and
// sink only the oldest pending one, so a resolve never overtakes its
// trigger. SKIP LOCKED lets several deliverers claim side by side; the
// lease (next_attempt_at moved ahead) hands a crashed deliverer's rows to
// the next pass.
const claimSQL = `UPDATE alert_notifications n
SET attempts = n.attempts + 1, next_attempt_at = now() + make_interval(secs => $3)
WHERE n.id IN (
	SELECT c.id FROM alert_notifications c
	WHERE c.status = 'pending' AND c.next_attempt_at <= now() AND c.sink = ANY($1)
	  AND NOT EXISTS (SELECT 1 FROM alert_notifications p
		WHERE p.alert_id = c.alert_id AND p.sink = c.sink AND p.status = 'pending' AND p.id < c.id)
	ORDER BY c.id LIMIT $2
	FOR UPDATE SKIP LOCKED)
RETURNING n.id, n.alert_id, n.sink, n.event, n.attempts, n.created_at`

// ClaimAlertNotifications leases up to limit due notifications of sinks
// for lease and returns them with their alerts.
func (s *Store) ClaimAlertNotifications(ctx context.Context, sinks []string, limit int, lease time.Duration) ([]AlertDelivery, error) {
	rows, err := s.db.Query(ctx, claimSQL, sinks, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("controlplane: claim alert notifications: %w", err)
	}
	type claimed struct {
		AlertDelivery
		alertID int64
	}
	var got []claimed
	var ids []int64
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.ID, &c.alertID, &c.Sink, &c.Event, &c.Attempts, &c.CreatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("controlplane: claim alert notifications: %w", err)
		}
		got = append(got, c)
		ids = append(ids, c.alertID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("controlplane: claim alert notifications: %w", err)
	}
	if len(got) == 0 {
		return nil, nil
	}
	arows, err := s.db.Query(ctx, `SELECT `+alertColumns+` FROM alerts a WHERE a.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("controlplane: read claimed alerts: %w", err)
	}
	alerts, err := pgx.CollectRows(arows, func(r pgx.CollectableRow) (Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: read claimed alerts: %w", err)
	}
	byID := make(map[int64]Alert, len(alerts))
	for _, a := range alerts {
		byID[a.ID] = a
	}
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Compare(a.ID, b.ID) }) // RETURNING has no order
	out := make([]AlertDelivery, 0, len(got))
	for _, c := range got {
		c.Alert = byID[c.alertID]
		out = append(out, c.AlertDelivery)
	}
	return out, nil
}

// MarkAlertNotificationSent records notification id as delivered.
func (s *Store) MarkAlertNotificationSent(ctx context.Context, id int64) error {
	if _, err := s.db.Exec(ctx, `UPDATE alert_notifications SET status = 'sent', sent_at = now(), last_error = ''
		WHERE id = $1`, id); err != nil {
		return fmt.Errorf("controlplane: mark notification %d sent: %w", id, err)
	}
	return nil
}

// RetryAlertNotification schedules notification id again after a delay
// (on the database's clock), keeping reason (which must hold no secret)
// for `fleet alerts`.
func (s *Store) RetryAlertNotification(ctx context.Context, id int64, after time.Duration, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE alert_notifications
		SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
		WHERE id = $1 AND status = 'pending'`, id, after.Seconds(), reason); err != nil {
		return fmt.Errorf("controlplane: retry notification %d: %w", id, err)
	}
	return nil
}

// FailAlertNotification gives notification id up with reason.
func (s *Store) FailAlertNotification(ctx context.Context, id int64, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE alert_notifications SET status = 'failed', last_error = $2
		WHERE id = $1`, id, reason); err != nil {
		return fmt.Errorf("controlplane: fail notification %d: %w", id, err)
	}
	return nil
}

// DeferAlertSink holds every pending notification of sink for at least
// after: the sink's service asked to slow down (429 with Retry-After), and
// every fleet process honours it.
func (s *Store) DeferAlertSink(ctx context.Context, sink string, after time.Duration) error {
	if _, err := s.db.Exec(ctx, `UPDATE alert_notifications
		SET next_attempt_at = greatest(next_attempt_at, now() + make_interval(secs => $2))
		WHERE sink = $1 AND status = 'pending'`, sink, after.Seconds()); err != nil {
		return fmt.Errorf("controlplane: defer sink %s: %w", sink, err)
	}
	return nil
}

// EnqueueAlertRefreshes adds a refresh notification for sink of every open,
// notified alert that sink has nothing pending for and has not been sent
// anything for within every, and returns how many it added. Under a
// transaction-scoped advisory lock per sink, so processes running it at
// once add each refresh once.
func (s *Store) EnqueueAlertRefreshes(ctx context.Context, sink string, every time.Duration) (int64, error) {
	var n int64
	err := s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('tenantfleet:alert-refresh:' || $1))`, sink); err != nil {
			return err
		}
		tag, err := tx.db.Exec(ctx, `INSERT INTO alert_notifications (alert_id, sink, event)
			SELECT a.id, $1, 'refresh' FROM alerts a
			WHERE a.resolved_at IS NULL AND a.notified_at IS NOT NULL
			  AND NOT EXISTS (SELECT 1 FROM alert_notifications n WHERE n.alert_id = a.id AND n.sink = $1
				AND (n.status = 'pending' OR n.created_at > now() - make_interval(secs => $2)))`, sink, every.Seconds())
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("controlplane: enqueue refreshes for %s: %w", sink, err)
	}
	return n, nil
}

// AlertNotificationStatus is the outbox of one alert and sink, for
// `fleet alerts` and tests.
type AlertNotificationStatus struct {
	ID        int64
	Sink      string
	Event     string
	Status    string
	Attempts  int
	LastError string
}

// AlertNotifications returns the notifications of alert id, oldest first.
func (s *Store) AlertNotifications(ctx context.Context, id int64) ([]AlertNotificationStatus, error) {
	rows, err := s.db.Query(ctx, `SELECT id, sink, event, status, attempts, last_error FROM alert_notifications
		WHERE alert_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("controlplane: notifications of alert %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AlertNotificationStatus])
	if err != nil {
		return nil, fmt.Errorf("controlplane: notifications of alert %d: %w", id, err)
	}
	return out, nil
}

// PendingAlertNotifications counts the pending notifications per sink.
func (s *Store) PendingAlertNotifications(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT sink, count(*) FROM alert_notifications WHERE status = 'pending' GROUP BY sink`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: count pending notifications: %w", err)
	}
	out := map[string]int{}
	var sink string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&sink, &n}, func() error { out[sink] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("controlplane: count pending notifications: %w", err)
	}
	return out, nil
}
