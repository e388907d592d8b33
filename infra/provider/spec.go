package provider

import (
	"fmt"
	"maps"
	"regexp"

	"github.com/tenantfleet/tenantfleet/tenants"
)

var (
	// idPattern: lowercase letters, digits and single or double hyphens, 1
	// to 40 characters, neither starting nor ending with a hyphen. A tenant
	// id (the slug) is a valid instance id.
	idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	// fleetPattern matches config.Config.Name.
	fleetPattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
)

// Tag keys every provider that supports tags sets on an instance, besides
// Spec.Tags.
const (
	TagFleet      = "tenantfleet-fleet"
	TagTier       = "tenantfleet-tier"
	TagInstanceID = "tenantfleet-instance-id"
)

// Spec describes an instance to create.
type Spec struct {
	// ID is tenantfleet's instance id: lowercase letters, digits and
	// hyphens, 1 to 40 characters, starting and ending with a letter or
	// digit. Required. Providers derive their handle (ProviderRef) from
	// Fleet and ID deterministically, which is what makes Create idempotent.
	ID string
	// Tier is tenants.Shared (one database holding one schema per small
	// tenant) or tenants.Dedicated (one large or regulated tenant).
	// Required.
	Tier tenants.Tier
	// Fleet is the fleet's name (config.Config.Name, e.g. "tf"), so two
	// fleets on one account or server never collide. Required.
	Fleet string
	// Tags are extra key/value labels for providers that support them
	// (RDS); the tenantfleet-* keys are reserved and overwritten.
	Tags map[string]string
}

// Validate reports a malformed spec with an error wrapping ErrInvalid.
func (s Spec) Validate() error {
	if err := ValidateID(s.ID); err != nil {
		return err
	}
	if !s.Tier.Valid() {
		return fmt.Errorf("%w: tier %q: want %q or %q", ErrInvalid, s.Tier, tenants.Shared, tenants.Dedicated)
	}
	if !fleetPattern.MatchString(s.Fleet) {
		return fmt.Errorf("%w: fleet %q: want 1-12 lowercase letters or digits, starting with a letter", ErrInvalid, s.Fleet)
	}
	return nil
}

// AllTags returns Spec.Tags plus the reserved tenantfleet-* tags.
func (s Spec) AllTags() map[string]string {
	tags := make(map[string]string, len(s.Tags)+3)
	maps.Copy(tags, s.Tags)
	tags[TagFleet] = s.Fleet
	tags[TagTier] = string(s.Tier)
	tags[TagInstanceID] = s.ID
	return tags
}

// ValidateID reports whether id is a valid instance id (see Spec.ID), with
// an error wrapping ErrInvalid.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: instance id %q: want 1-40 lowercase letters, digits or hyphens, starting and ending with a letter or digit", ErrInvalid, id)
	}
	return nil
}
