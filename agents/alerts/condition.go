package alerts

import (
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// ErrInvalid marks a condition, acknowledgement or silence refused before
// anything is stored.
var ErrInvalid = errors.New("alerts: invalid")

// Condition is something a checker found true (or no longer true) now.
type Condition struct {
	// Kind is what it is about. Required.
	Kind Kind
	// Subject is what it is on: a pool, an instance id, a tenant id, a run.
	// Required. Kind and Subject form the dedup key: one open alert each.
	Subject string
	// Instance is the instance it concerns, if any.
	Instance string
	// Tenant is the tenant it concerns, if any. A condition with both a
	// Tenant and an Instance is tenant-level: an open instance_down alert
	// of the Instance mutes it.
	Tenant string
	// Severity defaults to DefaultSeverity(Kind).
	Severity Severity
	// Summary is one line for people. Default: kind and subject.
	Summary string
	// Details are figures for people and sinks (JSON object).
	Details map[string]any
	// Affected lists the tenants an instance-level incident affects (for
	// instance_down: every tenant on the instance); merged over the
	// alert's life.
	Affected []string
}

// subjectPattern: printable, no spaces or control characters, so a
// subject is safe in a label, a dedup key and a log line.
var subjectPattern = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)

// maxSummary bounds a summary (PagerDuty's own limit is 1024).
const maxSummary = 1000

// DedupKey is the alert identity of a kind and subject.
func DedupKey(kind Kind, subject string) string { return string(kind) + ":" + subject }

func validateSubject(field, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if !subjectPattern.MatchString(s) {
		return fmt.Errorf("%w: %s must be 1 to 200 printable characters without spaces", ErrInvalid, field)
	}
	return nil
}

// normalize fills defaults and validates c.
func (c Condition) normalize() (Condition, error) {
	if err := c.Kind.validate(); err != nil {
		return c, err
	}
	if c.Severity == "" {
		c.Severity = DefaultSeverity(c.Kind)
	}
	if err := c.Severity.validate(); err != nil {
		return c, err
	}
	errs := []error{validateSubject("subject", c.Subject, true), validateSubject("instance", c.Instance, false),
		validateSubject("tenant", c.Tenant, false)}
	for _, t := range c.Affected {
		errs = append(errs, validateSubject("affected tenant", t, true))
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if c.Summary == "" {
		c.Summary = string(c.Kind) + " on " + c.Subject
	}
	if !utf8.ValidString(c.Summary) || len(c.Summary) > maxSummary {
		return c, fmt.Errorf("%w: summary must be valid UTF-8 of at most %d bytes", ErrInvalid, maxSummary)
	}
	return c, nil
}

// tenantLevel reports whether an instance_down of c.Instance mutes c.
func (c Condition) tenantLevel() bool {
	return c.Tenant != "" && c.Instance != "" && c.Kind != InstanceDown
}
