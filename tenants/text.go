package tenants

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidValue marks a value refused before any SQL runs: a name or
// text with hidden characters here, an unknown tier or status in the
// control plane's store.
var ErrInvalidValue = errors.New("tenants: invalid value")

// MaxNameLen bounds a tenant's display name, in characters (runes).
const MaxNameLen = 200

// InvalidTextError reports a character that ValidateText refuses. It
// matches ErrInvalidValue with errors.Is.
type InvalidTextError struct {
	// Rune is the refused character.
	Rune rune
	// At is its position, in characters from 0.
	At int
}

func (e *InvalidTextError) Error() string {
	return fmt.Sprintf("tenants: must not contain control, invisible formatting or line separator characters (%U at character %d)",
		e.Rune, e.At+1)
}

// Is reports whether target is ErrInvalidValue.
func (e *InvalidTextError) Is(target error) bool { return target == ErrInvalidValue }

// hiddenRune reports whether r changes how text around it displays, or
// hides: control characters (Unicode Cc), format characters (Cf: the bidi
// embeddings, overrides and isolates U+202A..U+202E and U+2066..U+2069,
// zero-width space, joiners and marks U+200B..U+200F, the byte order mark
// U+FEFF, soft hyphen, tag characters) and line and paragraph separators
// (Zl, Zp).
func hiddenRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// ValidateText checks text that people read (display names, ticket keys,
// who requested what) for characters that can make one text display as
// another or hide part of it: control characters (Cc), format characters
// (Cf, including bidi overrides and zero-width characters) and line or
// paragraph separators (Zl, Zp). It returns an *InvalidTextError naming
// the first one. It checks neither UTF-8 validity nor length.
//
// Cf includes the zero-width joiner and non-joiner, so emoji sequences
// and some Persian and Indic spellings that need them are refused too:
// the price of names that render the same for everyone.
func ValidateText(s string) error {
	i := 0
	for _, r := range s {
		if hiddenRune(r) {
			return &InvalidTextError{Rune: r, At: i}
		}
		i++
	}
	return nil
}

// ValidateName checks a tenant's display name: valid UTF-8, 1 to
// MaxNameLen characters, and ValidateText. Errors match ErrInvalidValue.
func ValidateName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: a name must be valid UTF-8", ErrInvalidValue)
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxNameLen {
		return fmt.Errorf("%w: a name must be 1 to %d characters, got %d", ErrInvalidValue, MaxNameLen, n)
	}
	return ValidateText(name)
}
