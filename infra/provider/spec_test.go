package provider_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	ok := provider.Spec{ID: "shared-001", Tier: tenants.Shared, Fleet: "tf"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", ok, err)
	}
	bad := []provider.Spec{
		{ID: "", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "-lead", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "trail-", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "UPPER", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "under_score", Tier: tenants.Shared, Fleet: "tf"},
		{ID: strings.Repeat("a", 41), Tier: tenants.Shared, Fleet: "tf"},
		{ID: "ok", Tier: "", Fleet: "tf"},
		{ID: "ok", Tier: tenants.Dedicated, Fleet: "1tf"},
		{ID: "ok", Tier: tenants.Dedicated, Fleet: "waytoolongname"},
	}
	for _, s := range bad {
		if err := s.Validate(); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Validate(%+v): got %v, want ErrInvalid", s, err)
		}
	}
}

func TestSpecAllTags(t *testing.T) {
	t.Parallel()
	s := provider.Spec{ID: "acme", Tier: tenants.Dedicated, Fleet: "tf",
		Tags: map[string]string{"cost-center": "42", provider.TagTier: "spoofed"}}
	got := s.AllTags()
	want := map[string]string{"cost-center": "42", provider.TagFleet: "tf", provider.TagTier: "dedicated", provider.TagInstanceID: "acme"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AllTags: got %v, want %v", got, want)
	}
	if s.Tags[provider.TagTier] != "spoofed" {
		t.Errorf("AllTags modified Spec.Tags")
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		fmt.Errorf("x: %w", provider.ErrThrottled):   true,
		fmt.Errorf("x: %w", provider.ErrQuota):       true,
		fmt.Errorf("x: %w", provider.ErrUnavailable): true,
		fmt.Errorf("x: %w", provider.ErrNotFound):    false,
		fmt.Errorf("x: %w", provider.ErrInvalid):     false,
		fmt.Errorf("x: %w", provider.ErrUnsupported): false,
		errors.New("other"):                          false,
	} {
		if got := provider.Retryable(err); got != want {
			t.Errorf("Retryable(%v): got %v, want %v", err, got, want)
		}
	}
}
