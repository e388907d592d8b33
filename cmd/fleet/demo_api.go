package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/stdwebhook"
)

// call sends a request to the demo fleet's API with the token and decodes
// a JSON answer into out (when not nil). An answer other than want is an
// error quoting the body's start.
func (d *demo) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.api+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return d.do(req, want, out)
}

// do sends req and decodes its JSON answer into out.
func (d *demo) do(req *http.Request, want int, out any) error {
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("%s %s answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}

// waitReady waits until the api role answers /readyz.
func (d *demo) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.api+"/readyz", nil)
		if err != nil {
			return err
		}
		if err := d.do(req, http.StatusOK, nil); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("the demo fleet's api at %s is not ready: %w", d.api, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sendTicket posts one signed onboarding ticket to /webhooks/tickets, as
// a ticketing system does: Standard Webhooks signature with the fleet's
// ticket secret. A duplicate delivery answers 2xx too.
func (d *demo) sendTicket(ctx context.Context, t demoTenant, msgID string) error {
	key, err := stdwebhook.DecodeSecret(d.ticketSecret)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]string{"ticket_id": "DEMO-" + t.id, "tenant_id": t.id, "name": t.name,
		"tier": "shared", "requested_by": "fleet demo"})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.api+"/webhooks/tickets", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	stdwebhook.Sign(req.Header, key, msgID, time.Now(), body)
	return d.do(req, http.StatusAccepted, nil)
}

// demoAlert is the part of an alert (GET /api/v1/alerts) the demo reads.
type demoAlert struct {
	ID         int64      `json:"id"`
	Subject    string     `json:"subject"`
	Summary    string     `json:"summary"`
	StartedAt  time.Time  `json:"started_at"`
	ResolvedAt *time.Time `json:"resolved_at"`
}

// poolAlerts reads the fleet's pool_exhausted alerts, open and resolved.
func (d *demo) poolAlerts(ctx context.Context) ([]demoAlert, error) {
	var body struct {
		Alerts []demoAlert `json:"alerts"`
	}
	err := d.call(ctx, http.MethodGet, "/api/v1/alerts?status=all&kind=pool_exhausted&limit=100", nil, http.StatusOK, &body)
	return body.Alerts, err
}

// demoRun is the part of a migration run (GET /api/v1/migrations/{id})
// the demo reads.
type demoRun struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"`
	FinishedAt *time.Time `json:"finished_at"`
	Counts     struct {
		Total     int `json:"total"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
	} `json:"counts"`
}

// demoRecommendation is the part of a recommendation (GET
// /api/v1/recommendations) the demo reads.
type demoRecommendation struct {
	ID               int64    `json:"id"`
	Tenants          []string `json:"tenants"`
	Statement        string   `json:"statement"`
	CostBefore       float64  `json:"cost_before"`
	CostAfter        float64  `json:"cost_after"`
	MonthlySavingUSD float64  `json:"monthly_saving_usd"`
}

// openRecommendations reads the open recommendations.
func (d *demo) openRecommendations(ctx context.Context) ([]demoRecommendation, error) {
	var body struct {
		Recommendations []demoRecommendation `json:"recommendations"`
	}
	err := d.call(ctx, http.MethodGet, "/api/v1/recommendations?status=open", nil, http.StatusOK, &body)
	return body.Recommendations, err
}
