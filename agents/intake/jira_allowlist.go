package intake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// jiraProjectKey is a Jira project key: a letter, then letters, digits or
// underscores (Jira's own rule, up to 255 characters).
var jiraProjectKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,254}$`)

// jiraNotAllowedError refuses a Jira issue whose project or issue type
// may not onboard. The delivery is answered 200 (Jira retries anything
// else) and nothing is stored.
type jiraNotAllowedError struct {
	project, issueType, issueKey string
	why                          string
}

func (e *jiraNotAllowedError) Error() string { return e.why }

// jiraScope is the part of an issue the allowlist reads.
type jiraScope struct {
	Project *struct {
		Key string `json:"key"`
	} `json:"project"`
	IssueType *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"issuetype"`
}

// allows checks the issue's project (fields.project.key) and issue type
// (fields.issuetype, by name or id) against the allowlist of m. A missing
// or unreadable project or type is not allowed.
func (m JiraMapping) allows(issueKey string, fields map[string]json.RawMessage) error {
	var scope jiraScope
	if raw, ok := fields["project"]; ok && json.Unmarshal(raw, &scope.Project) != nil {
		scope.Project = nil
	}
	if raw, ok := fields["issuetype"]; ok && json.Unmarshal(raw, &scope.IssueType) != nil {
		scope.IssueType = nil
	}
	refuse := &jiraNotAllowedError{issueKey: issueKey}
	if scope.Project != nil {
		refuse.project = scope.Project.Key
	}
	if scope.IssueType != nil {
		refuse.issueType = scope.IssueType.Name
	}
	switch {
	case len(m.Projects) == 0:
		refuse.why = "no Jira project may onboard (the project allowlist is empty)"
		return refuse
	case !containsFold(m.Projects, refuse.project):
		refuse.why = fmt.Sprintf("project %.40q may not onboard", refuse.project)
		return refuse
	case len(m.IssueTypes) > 0 && !m.allowsType(scope):
		refuse.why = fmt.Sprintf("issue type %.40q may not onboard", refuse.issueType)
		return refuse
	}
	return nil
}

// allowsType reports whether the issue type, by name or id, is listed.
func (m JiraMapping) allowsType(scope jiraScope) bool {
	t := scope.IssueType
	return t != nil && (containsFold(m.IssueTypes, t.Name) || containsFold(m.IssueTypes, t.ID))
}

// containsFold reports whether list holds v, ignoring case; an empty v is
// never held.
func containsFold(list []string, v string) bool {
	if v == "" {
		return false
	}
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func (m JiraMapping) validateAllowlist() []error {
	var errs []error
	for _, p := range m.Projects {
		if !jiraProjectKey.MatchString(p) {
			errs = append(errs, fmt.Errorf("jira project %q is not a project key", p))
		}
	}
	for _, it := range m.IssueTypes {
		if it == "" || len(it) > 255 || strings.Contains(it, ",") || tenants.ValidateText(it) != nil {
			errs = append(errs, fmt.Errorf("jira issue type %q is not an issue type name or id", it))
		}
	}
	return errs
}
