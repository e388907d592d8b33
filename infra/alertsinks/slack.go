package alertsinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

// Slack posts alerts to a Slack incoming webhook as Block Kit messages:
// triggers, repeats, acknowledgements and resolves. Slack accepts about
// one message a second per webhook; the sink is paced to that and a 429's
// Retry-After holds it.
type Slack struct {
	url    string
	client *http.Client
}

var (
	_ alerts.Sink  = (*Slack)(nil)
	_ alerts.Paced = (*Slack)(nil)
)

// NewSlack returns the Slack sink for an incoming webhook URL (itself a
// credential: never logged). client may be nil.
func NewSlack(webhookURL string, client *http.Client) (*Slack, error) {
	if webhookURL == "" {
		return nil, errors.New("alertsinks: slack needs a webhook URL")
	}
	return &Slack{url: webhookURL, client: newClient(client)}, nil
}

// Name implements alerts.Sink.
func (*Slack) Name() string { return "slack" }

// Handles implements alerts.Sink: every event but refreshes.
func (*Slack) Handles(e alerts.Event) bool { return e != alerts.EventRefresh }

// MinInterval implements alerts.Paced.
func (*Slack) MinInterval() time.Duration { return time.Second }

// SlackMessage is an incoming-webhook message: Text is the notification
// fallback, Blocks the Block Kit layout.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit block (header, section or context).
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackHeaderMax is Block Kit's limit on a header's text.
const slackHeaderMax = 150

// slackTitles are the headline of each event.
var slackTitles = map[alerts.Event]string{
	alerts.EventTrigger:     ":rotating_light: FIRING",
	alerts.EventRepeat:      ":repeat: STILL FIRING",
	alerts.EventAcknowledge: ":eyes: ACKNOWLEDGED",
	alerts.EventResolve:     ":white_check_mark: RESOLVED",
}

// SlackMessageFor renders a notification.
func SlackMessageFor(n alerts.Notification) SlackMessage {
	a := n.Alert
	title := slackTitles[n.Event] + ": " + string(a.Kind) + " on " + a.Subject
	if len(title) > slackHeaderMax {
		title = title[:slackHeaderMax]
	}
	fields := []SlackText{
		mrkdwn("*Severity*\n" + string(a.Severity)),
		mrkdwn("*Subject*\n" + slackEscape(a.Subject)),
	}
	if a.Instance != "" {
		fields = append(fields, mrkdwn("*Instance*\n"+slackEscape(a.Instance)))
	}
	if a.Tenant != "" {
		fields = append(fields, mrkdwn("*Tenant*\n"+slackEscape(a.Tenant)))
	}
	if len(a.AffectedTenants) > 0 {
		fields = append(fields, mrkdwn("*Affected tenants*\n"+slackEscape(strings.Join(a.AffectedTenants, ", "))))
	}
	if n.Event == alerts.EventAcknowledge && a.AckedBy != "" {
		fields = append(fields, mrkdwn("*Acknowledged by*\n"+slackEscape(a.AckedBy)))
	}
	context := "fleet " + slackEscape(n.Fleet) + " · alert " + strconv.FormatInt(a.ID, 10) +
		" · since " + a.StartedAt.UTC().Format(time.RFC3339)
	return SlackMessage{
		Text: fmt.Sprintf("[%s] %s %s on %s: %s", strings.ToUpper(string(n.Event)), a.Severity, a.Kind, a.Subject, a.Summary),
		Blocks: []SlackBlock{
			{Type: "header", Text: &SlackText{Type: "plain_text", Text: title}},
			{Type: "section", Text: ptr(mrkdwn(slackEscape(a.Summary))), Fields: fields},
			{Type: "context", Elements: []SlackText{mrkdwn(context)}},
		},
	}
}

// Send implements alerts.Sink.
func (s *Slack) Send(ctx context.Context, n alerts.Notification) error {
	body, err := json.Marshal(SlackMessageFor(n))
	if err != nil {
		return fmt.Errorf("slack: encode: %w: %w", err, alerts.ErrPermanent)
	}
	return postJSON(ctx, s.client, "slack", s.url, nil, body)
}

func mrkdwn(s string) SlackText { return SlackText{Type: "mrkdwn", Text: s} }

func ptr[T any](v T) *T { return &v }

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to, so a subject cannot ping @channel or forge a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
