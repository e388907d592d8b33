package tenants

import (
	"errors"
	"fmt"
)

// ErrInvalidID marks a tenant id that is not a valid slug. The concrete error
// is an *InvalidIDError naming the rule broken.
var ErrInvalidID = errors.New("invalid tenant id")

// The rules a tenant id must follow, as named in InvalidIDError.Rule.
const (
	// RuleLength: 3 to 40 bytes.
	RuleLength = "length"
	// RuleStart: the first character is a lowercase ASCII letter.
	RuleStart = "start"
	// RuleCharset: only lowercase ASCII letters, digits and '-'.
	RuleCharset = "charset"
	// RuleEnd: the last character is a lowercase ASCII letter or a digit.
	RuleEnd = "end"
)

// Bounds of a tenant id's length, in bytes.
const (
	MinIDLen = 3
	MaxIDLen = 40
)

// InvalidIDError reports a tenant id that breaks one of the slug rules of
// ValidateID. It matches ErrInvalidID with errors.Is.
type InvalidIDError struct {
	// ID is the rejected input, as given.
	ID string
	// Rule is the first rule broken: RuleLength, RuleStart, RuleCharset or
	// RuleEnd.
	Rule string
}

func (e *InvalidIDError) Error() string {
	var why string
	switch e.Rule {
	case RuleLength:
		why = fmt.Sprintf("must be %d to %d characters long, got %d", MinIDLen, MaxIDLen, len(e.ID))
	case RuleStart:
		why = "must start with a lowercase letter a-z"
	case RuleCharset:
		why = "may contain only lowercase letters a-z, digits 0-9 and '-'"
	case RuleEnd:
		why = "must end with a lowercase letter or a digit"
	default:
		why = "breaks rule " + e.Rule
	}
	return fmt.Sprintf("tenants: invalid tenant id %.60q: %s", e.ID, why)
}

// Is reports whether target is ErrInvalidID.
func (e *InvalidIDError) Is(target error) bool { return target == ErrInvalidID }

// ValidateID checks that id is a tenant slug matching
// ^[a-z][a-z0-9-]{1,38}[a-z0-9]$ and returns an *InvalidIDError naming the
// first broken rule otherwise. It allocates nothing on success.
func ValidateID(id string) error {
	if len(id) < MinIDLen || len(id) > MaxIDLen {
		return &InvalidIDError{ID: id, Rule: RuleLength}
	}
	if c := id[0]; c < 'a' || c > 'z' {
		return &InvalidIDError{ID: id, Rule: RuleStart}
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return &InvalidIDError{ID: id, Rule: RuleCharset}
		}
	}
	if id[len(id)-1] == '-' {
		return &InvalidIDError{ID: id, Rule: RuleEnd}
	}
	return nil
}
