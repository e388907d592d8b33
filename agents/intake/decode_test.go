package intake

import (
	"errors"
	"testing"
)

// TestDecodersRejectTrailingData: every body decoder of the intake (Jira,
// ticket) accepts exactly one JSON object and nothing after it but
// white space.
func TestDecodersRejectTrailingData(t *testing.T) {
	t.Parallel()
	m := JiraMapping{Projects: []string{testJiraProject}}.withDefaults()
	decoders := map[string]struct {
		valid []byte
		parse func([]byte) error
	}{
		"jira": {jiraIssue(JiraIssueCreated, "OPS-1", "Acme", []string{"tenant:acme"}, nil),
			func(b []byte) error { _, _, err := parseJira(b, m); return err }},
		"ticket": {[]byte(`{"ticket_id":"T-1","tenant_id":"acme"}`),
			func(b []byte) error { _, err := parseTicket(b); return err }},
	}
	trailers := []string{" {}", `{"tenant_id":"evil"}`, "x", "]", "}", " null", "1", `""`, "\x00", "\n//", " \xff"}
	for name, d := range decoders {
		if err := d.parse(append(append([]byte(nil), d.valid...), " \n\t"...)); err != nil {
			t.Errorf("%s: valid body with trailing white space: got %v, want nil", name, err)
		}
		for _, tr := range trailers {
			body := append(append([]byte(nil), d.valid...), tr...)
			if err := d.parse(body); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: body + %q: got %v, want ErrMalformed", name, tr, err)
			}
		}
	}
}
