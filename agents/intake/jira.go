package intake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// JiraMapping says how a Jira issue becomes an onboarding request.
//
// The tenant id comes from TenantField when it is set and filled on the
// issue, else from a label TenantLabelPrefix+<id>. The tier comes from
// TierField, else from a label TierLabelPrefix+<tier>, else DefaultTier;
// the isolation level likewise from IsolationField, else a label
// IsolationLabelPrefix+<level> ("isolation:strict"), else pooled.
// The display name is the issue summary. An issue with no tenant id is not
// an onboarding request and is ignored. Only issues of the allowed
// Projects (and IssueTypes, when set) onboard; the others are refused
// before their fields are read.
type JiraMapping struct {
	// Events are the webhook events that may onboard. Default
	// jira:issue_created and jira:issue_updated.
	Events []string
	// Projects are the keys of the Jira projects whose issues may onboard
	// (fields.project.key, compared case-insensitively). Default empty: no
	// issue onboards; every delivery that would is answered 200 "ignored"
	// and logged, and New logs a warning when a Jira secret is set.
	Projects []string
	// IssueTypes, when set, also requires the issue type (fields.issuetype
	// name or id, case-insensitively) to be one of these. Default empty:
	// any issue type of an allowed project.
	IssueTypes []string
	// TenantLabelPrefix marks the label carrying the tenant id. Default
	// "tenant:".
	TenantLabelPrefix string
	// TierLabelPrefix marks the label carrying the tier. Default "tier:".
	TierLabelPrefix string
	// DefaultTier is the tier of an issue that names none. Default shared.
	DefaultTier tenants.Tier
	// IsolationLabelPrefix marks the label carrying the isolation level
	// (pooled or strict). Default "isolation:".
	IsolationLabelPrefix string
	// IsolationField is a custom field carrying the isolation level, like
	// TenantField. Default: none.
	IsolationField string
	// TenantField is a custom field (e.g. "customfield_10042") carrying the
	// tenant id: a text field, a select field ({"value": …}) or a one-item
	// list. When set and filled, it wins over the label. Default: none.
	TenantField string
	// TierField is a custom field carrying the tier, like TenantField.
	// Default: none.
	TierField string
}

// Jira webhook events.
const (
	JiraIssueCreated = "jira:issue_created"
	JiraIssueUpdated = "jira:issue_updated"
)

func (m JiraMapping) withDefaults() JiraMapping {
	if len(m.Events) == 0 {
		m.Events = []string{JiraIssueCreated, JiraIssueUpdated}
	}
	m.TenantLabelPrefix = cmp.Or(m.TenantLabelPrefix, "tenant:")
	m.TierLabelPrefix = cmp.Or(m.TierLabelPrefix, "tier:")
	m.DefaultTier = cmp.Or(m.DefaultTier, tenants.Shared)
	m.IsolationLabelPrefix = cmp.Or(m.IsolationLabelPrefix, "isolation:")
	return m
}

var jiraFieldName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

func (m JiraMapping) validate() error {
	var errs []error
	if !m.DefaultTier.Valid() {
		errs = append(errs, fmt.Errorf("jira default tier %q is not a tier", m.DefaultTier))
	}
	if m.TenantLabelPrefix == m.TierLabelPrefix {
		errs = append(errs, errors.New("the tenant and tier label prefixes of Jira must differ"))
	}
	for _, f := range []string{m.TenantField, m.TierField} {
		if f != "" && !jiraFieldName.MatchString(f) {
			errs = append(errs, fmt.Errorf("jira field %q is not a field id", f))
		}
	}
	errs = append(errs, m.validateAllowlist()...)
	return errors.Join(errs...)
}

// jiraEvent is the part of a Jira Cloud issue webhook the mapping reads.
type jiraEvent struct {
	WebhookEvent string `json:"webhookEvent"`
	User         *struct {
		AccountID   string `json:"accountId"`
		DisplayName string `json:"displayName"`
	} `json:"user"`
	Issue *struct {
		Key    string                     `json:"key"`
		Fields map[string]json.RawMessage `json:"fields"`
	} `json:"issue"`
}

// parseJira maps a Jira webhook body to a request. A body that is valid
// but not an onboarding request (another event, no tenant id) returns a
// non-empty ignore reason; an issue of a project or issue type that may
// not onboard returns a *jiraNotAllowedError, before its other fields are
// read. The request is not validated yet.
func parseJira(body []byte, m JiraMapping) (Request, string, error) {
	var ev jiraEvent
	if err := decodeJSON(body, &ev, false); err != nil {
		return Request{}, "", err
	}
	if !slices.Contains(m.Events, ev.WebhookEvent) {
		return Request{}, fmt.Sprintf("event %.60q does not onboard", ev.WebhookEvent), nil
	}
	if ev.Issue == nil {
		return Request{}, "the event carries no issue", nil
	}
	f := ev.Issue.Fields
	if err := m.allows(ev.Issue.Key, f); err != nil {
		return Request{}, "", err
	}
	var labels []string
	if raw, ok := f["labels"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &labels); err != nil {
			return Request{}, "", fmt.Errorf("%w: issue.fields.labels: %w", ErrMalformed, err)
		}
	}
	tenant, err := jiraValue(f, m.TenantField, labels, m.TenantLabelPrefix, "tenant_id")
	if err != nil {
		return Request{}, "", err
	}
	if tenant == "" {
		return Request{}, "the issue names no tenant", nil
	}
	tier, err := jiraValue(f, m.TierField, labels, m.TierLabelPrefix, "tier")
	if err != nil {
		return Request{}, "", err
	}
	isolation, err := jiraValue(f, m.IsolationField, labels, m.IsolationLabelPrefix, "isolation")
	if err != nil {
		return Request{}, "", err
	}
	var summary string
	if raw, ok := f["summary"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &summary); err != nil {
			return Request{}, "", fmt.Errorf("%w: issue.fields.summary: %w", ErrMalformed, err)
		}
	}
	if ev.Issue.Key == "" {
		return Request{}, "", invalid("ticket_id", "the issue has no key")
	}
	r := Request{
		Source:    SourceJira,
		TicketKey: ev.Issue.Key,
		TenantID:  tenant,
		Name:      truncate(strings.TrimSpace(summary), MaxNameLen),
		Tier:      cmp.Or(tenants.Tier(tier), m.DefaultTier),
		Isolation: tenants.Isolation(isolation),
	}
	if u := ev.User; u != nil {
		if who := cmp.Or(u.AccountID, u.DisplayName); who != "" {
			r.RequestedBy = "jira:" + truncate(who, MaxKeyLen-len("jira:"))
		}
	}
	r.RequestedBy = cmp.Or(r.RequestedBy, "jira")
	return r, "", nil
}

// jiraValue reads a mapped value from the custom field if set and filled,
// else from the labels with the prefix. Two different labels are an error.
func jiraValue(fields map[string]json.RawMessage, field string, labels []string, prefix, name string) (string, error) {
	if field != "" {
		if raw, ok := fields[field]; ok && !isNull(raw) {
			v, err := customFieldValue(raw)
			if err != nil {
				return "", invalid(name, fmt.Sprintf("field %s: %v", field, err))
			}
			if v != "" {
				return v, nil
			}
		}
	}
	var found string
	for _, l := range labels {
		v, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		if found != "" && v != found {
			return "", invalid(name, fmt.Sprintf("the issue has several %s labels", strings.TrimSuffix(prefix, ":")))
		}
		found = v
	}
	if found == "" && slices.Contains(labels, prefix) {
		return "", invalid(name, fmt.Sprintf("label %q is empty", prefix))
	}
	return found, nil
}

// customFieldValue reads a text field ("acme"), a select field
// ({"value": "acme"}) or a list of one of those.
func customFieldValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s), nil
	}
	var opt struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(raw, &opt); err == nil && opt.Value != nil {
		return strings.TrimSpace(*opt.Value), nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err == nil {
		switch len(list) {
		case 0:
			return "", nil
		case 1:
			if isNull(list[0]) || bytes.HasPrefix(bytes.TrimSpace(list[0]), []byte("[")) {
				return "", errors.New("unsupported value")
			}
			return customFieldValue(list[0])
		default:
			return "", errors.New("holds several values")
		}
	}
	return "", errors.New("must be text or a select option")
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
