package tenants

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,38}[a-z0-9]$`)

func TestValidateID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ id, rule string }{
		{"acme-bank", ""}, {"abc", ""}, {"a1-2", ""}, {strings.Repeat("a", 40), ""},
		{"ab", RuleLength}, {strings.Repeat("a", 41), RuleLength}, {"", RuleLength},
		{"1abc", RuleStart}, {"-abc", RuleStart}, {"Acme", RuleStart},
		{"acme_bank", RuleCharset}, {"acme bank", RuleCharset}, {"acmé", RuleCharset}, {"acMe", RuleCharset},
		{"acme-", RuleEnd},
	} {
		err := ValidateID(tc.id)
		var ie *InvalidIDError
		switch {
		case tc.rule == "" && err != nil:
			t.Errorf("ValidateID(%q): got %v, want nil", tc.id, err)
		case tc.rule != "" && (!errors.As(err, &ie) || ie.Rule != tc.rule || !errors.Is(err, ErrInvalidID)):
			t.Errorf("ValidateID(%q): got %v, want rule %s", tc.id, err, tc.rule)
		}
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"acme-bank", "ab", "a--b", "a-", "Z99", "t_x", "abc\x00", strings.Repeat("z", 40), "é-abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if want := idPattern.MatchString(id); want != (err == nil) {
			t.Fatalf("ValidateID(%q) = %v, regexp match %v", id, err, want)
		}
		if err != nil {
			var ie *InvalidIDError
			if !errors.As(err, &ie) || ie.ID != id || ie.Rule == "" {
				t.Fatalf("ValidateID(%q): got %#v, want an *InvalidIDError naming a rule", id, err)
			}
		}
	})
}

func FuzzNamesFor(f *testing.F) {
	for _, s := range [][2]string{{"tf", "acme-bank"}, {"abcdefghijkl", strings.Repeat("a-", 19) + "bc"}, {"f1", "x-y"}, {"tf", "a_b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, fleet, id string) {
		n, err := NamesFor(fleet, id)
		if err != nil {
			if ValidateID(id) == nil && ValidateFleet(fleet) == nil {
				t.Fatalf("NamesFor(%q, %q) failed on valid input: %v", fleet, id, err)
			}
			return
		}
		for _, name := range []string{n.Schema, n.Role, n.AppRole} {
			if len(name) > 63 || !safeName(name) {
				t.Fatalf("NamesFor(%q, %q): name %q is not a safe identifier of at most 63 bytes", fleet, id, name)
			}
		}
		// Deterministic and invertible, hence collision-free.
		if again, _ := NamesFor(fleet, id); again != n {
			t.Fatalf("NamesFor(%q, %q) not deterministic", fleet, id)
		}
		back := strings.ReplaceAll(strings.TrimPrefix(n.Schema, "t_"), "_", "-")
		if back != id || n.Role != fleet+"_"+n.Schema || n.Role == n.AppRole {
			t.Fatalf("NamesFor(%q, %q) = %+v does not map back to the id", fleet, id, n)
		}
	})
}
