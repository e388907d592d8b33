package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// TestAlertsCLI: `fleet alerts list|ack|silence|silences` over the control
// plane, in text and JSON, with the errors of bad command lines.
func TestAlertsCLI(t *testing.T) {
	t.Parallel()
	env, db, _ := scratchFleet(t, "c")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	engine, err := alerts.New(alerts.Config{Store: controlplane.NewStore(db), Fleet: "tf", Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Raise(ctx, alerts.Condition{Kind: alerts.InstanceDown, Subject: "inst-1", Instance: "inst-1",
		Summary: "inst-1 does not answer", Affected: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		var stdout bytes.Buffer
		err := run(ctx, args, getenv, &stdout, io.Discard)
		return stdout.String(), err
	}
	text, err := cli("alerts", "list")
	if err != nil || !strings.Contains(text, "instance_down") || !strings.Contains(text, "[tenants: acme]") {
		t.Fatalf("alerts list: %v\n%s", err, text)
	}
	text, err = cli("alerts", "list", "--json")
	var list restapi.AlertListJSON
	if err != nil || json.Unmarshal([]byte(text), &list) != nil || len(list.Alerts) != 1 || list.Alerts[0].ID != out.Alert.ID {
		t.Fatalf("alerts list --json: %v\n%s", err, text)
	}
	id := strconv.FormatInt(out.Alert.ID, 10)
	if text, err = cli("alerts", "ack", id); err != nil || !strings.Contains(text, "acknowledged by local:") {
		t.Fatalf("alerts ack: %v\n%s", err, text)
	}
	if _, err = cli("alerts", "ack", "424242"); !errors.Is(err, errNotFound) || exitCode(err) != 1 {
		t.Fatalf("alerts ack of an unknown id: %v", err)
	}
	text, err = cli("alerts", "silence", "acme", "--for", "2h", "--reason", "migration", "--json")
	var s alerts.Silence
	if err != nil || json.Unmarshal([]byte(text), &s) != nil || s.Subject != "acme" || s.Reason != "migration" {
		t.Fatalf("alerts silence: %v\n%s", err, text)
	}
	if text, err = cli("alerts", "silences"); err != nil || !strings.Contains(text, "acme") {
		t.Fatalf("alerts silences: %v\n%s", err, text)
	}
	for _, bad := range [][]string{
		{"alerts", "nope"}, {"alerts", "ack"}, {"alerts", "ack", "x"}, {"alerts", "silence", "acme"},
		{"alerts", "list", "--limit", "0"}, {"alerts", "list", "extra"},
	} {
		if _, err := cli(bad...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
	if _, err := cli("alerts", "silence", "a b", "--for", "1h"); !errors.Is(err, errUsage) {
		t.Errorf("silence of a bad subject: %v, want a usage error (422)", err)
	}
}
