package alertsinks

import (
	"context"
	"log/slog"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

// Log writes every notification to the process log: the sink that is
// always there.
type Log struct {
	Logger *slog.Logger
}

var _ alerts.Sink = (*Log)(nil)

// Name implements alerts.Sink.
func (*Log) Name() string { return "log" }

// Handles implements alerts.Sink: every event but refreshes.
func (*Log) Handles(e alerts.Event) bool { return e != alerts.EventRefresh }

// Send implements alerts.Sink.
func (l *Log) Send(ctx context.Context, n alerts.Notification) error {
	level := slog.LevelWarn
	if n.Event == alerts.EventResolve || n.Event == alerts.EventAcknowledge || n.Alert.Severity == alerts.Info {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("event", string(n.Event)), slog.Int64("alert", n.Alert.ID), slog.String("kind", string(n.Alert.Kind)),
		slog.String("subject", n.Alert.Subject), slog.String("severity", string(n.Alert.Severity)),
		slog.String("summary", n.Alert.Summary),
	}
	if n.Alert.Instance != "" {
		attrs = append(attrs, slog.String("instance", n.Alert.Instance))
	}
	if n.Alert.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", n.Alert.Tenant))
	}
	if len(n.Alert.AffectedTenants) > 0 {
		attrs = append(attrs, slog.Any("affected_tenants", n.Alert.AffectedTenants))
	}
	l.Logger.LogAttrs(ctx, level, "alert notification", attrs...)
	return nil
}
