package dashboard

import (
	"errors"
	"net/http"
	"slices"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

type alertsData struct {
	Open     []alerts.Alert
	Resolved []alerts.Alert
	Silences []alerts.Silence
	Kinds    []alerts.Kind
	// Kind and Subject are the filter the page was asked for.
	Kind, Subject string
}

// alertsShown bounds the alerts the page lists (open and resolved).
const alertsShown = 200

func (d *Dashboard) alertList(r *http.Request) (string, string, any, error) {
	q := r.URL.Query()
	for k, vals := range q {
		if (k != "kind" && k != "subject") || len(vals) != 1 {
			return "", "", nil, badParam("the alerts page takes kind and subject, once each")
		}
	}
	out := alertsData{Kinds: alerts.Kinds, Kind: q.Get("kind"), Subject: q.Get("subject")}
	list, err := d.cfg.Alerts.List(r.Context(), alerts.ListFilter{Kind: out.Kind, Subject: out.Subject, Limit: alertsShown})
	if errors.Is(err, alerts.ErrInvalid) { // the engine validates kind and subject, as for /api/v1/alerts
		return "", "", nil, badParam("%s", err.Error())
	}
	if err != nil {
		return "", "", nil, err
	}
	for _, a := range list {
		if a.ResolvedAt == nil {
			out.Open = append(out.Open, a)
		} else {
			out.Resolved = append(out.Resolved, a)
		}
	}
	slices.SortStableFunc(out.Open, func(a, b alerts.Alert) int { return severityRank(a.Severity) - severityRank(b.Severity) })
	if out.Silences, err = d.cfg.Alerts.Silences(r.Context()); err != nil {
		return "", "", nil, err
	}
	return "alerts", "Alerts", out, nil
}

// severityRank puts critical alerts first.
func severityRank(s alerts.Severity) int {
	if s == alerts.Critical {
		return 0
	}
	return 1
}
