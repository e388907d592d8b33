package rds

import (
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

func TestMapStatus(t *testing.T) {
	t.Parallel()
	cases := map[string]provider.Status{
		"creating":                            provider.StatusCreating,
		"available":                           provider.StatusReady,
		"backing-up":                          provider.StatusReady,
		"modifying":                           provider.StatusReady,
		"upgrading":                           provider.StatusReady,
		"deleting":                            provider.StatusDeleting,
		"failed":                              provider.StatusFailed,
		"storage-full":                        provider.StatusFailed,
		"incompatible-network":                provider.StatusFailed,
		"inaccessible-encryption-credentials": provider.StatusFailed,
		"stopped":                             provider.StatusFailed,
		"some-future-state":                   provider.StatusCreating,
	}
	for in, want := range cases {
		got, reason := mapStatus(in)
		if got != want {
			t.Errorf("mapStatus(%q): got %q, want %q", in, got, want)
		}
		if (in == "available" || in == "creating" || in == "deleting") != (reason == "") {
			t.Errorf("mapStatus(%q): got reason %q", in, reason)
		}
	}
}
