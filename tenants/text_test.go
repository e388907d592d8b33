package tenants

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// hiddenPattern is the oracle of ValidateText, written independently.
var hiddenPattern = regexp.MustCompile(`[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]`)

// spoofingSeeds are names that display as something else, or hide text.
var spoofingSeeds = []string{
	"\u202eknaB emcA",       // right-to-left override: renders "Acme Bank"
	"Acme\u200bBank",        // zero-width space
	"Acme\u200dBank",        // zero-width joiner
	"Acme\u200c",            // zero-width non-joiner
	"\ufeffAcme",            // byte order mark
	"Acme \u2066Bank\u2069", // left-to-right isolate
	"Acme \u202aBank\u202c", // embedding + pop
	"Ac\u00adme",            // soft hyphen
	"Acme\u2060Bank",        // word joiner
	"Acme\U000e0041",        // tag character
	"Acme\u061c",            // Arabic letter mark
	"Acme\u2028Bank",        // line separator
	"Acme\u2029Bank",        // paragraph separator
	"Acme\x00", "Acme\x1b[31m", "Acme\x7f", "Acme\u0085", "Acme\r\nBank",
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ACME Bank", "Société Générale", "株式会社みずほ", "Bank — Zürich (EU)", "O'Brien & Sons", "بنك", strings.Repeat("é", MaxNameLen)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q): got %v, want nil", ok, err)
		}
	}
	for _, bad := range spoofingSeeds {
		err := ValidateName(bad)
		var te *InvalidTextError
		if !errors.As(err, &te) || !errors.Is(err, ErrInvalidValue) || !hiddenPattern.MatchString(string(te.Rune)) {
			t.Errorf("ValidateName(%q): got %v, want an *InvalidTextError naming the hidden character", bad, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", MaxNameLen+1), "Acme\xff"} {
		if err := ValidateName(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ValidateName(%q): got %v, want ErrInvalidValue", bad, err)
		}
	}
	err := ValidateText("ab\u202ec")
	var te *InvalidTextError
	if !errors.As(err, &te) || te.Rune != '\u202e' || te.At != 2 || !strings.Contains(err.Error(), "U+202E at character 3") {
		t.Errorf("got %v, want U+202E at character 3", err)
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range append([]string{"Acme Bank", "", "é", "\xff"}, spoofingSeeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen || name == "" {
			t.Fatalf("accepted %q", name)
		}
		if loc := hiddenPattern.FindStringIndex(name); loc != nil {
			t.Fatalf("accepted %q with hidden character %q", name, name[loc[0]:loc[1]])
		}
	})
}
