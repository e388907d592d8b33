package tenants

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidFleet marks a fleet name that cannot prefix role names.
var ErrInvalidFleet = errors.New("tenants: invalid fleet name")

// MaxFleetLen is the longest fleet name, in bytes.
const MaxFleetLen = 12

// Names are the PostgreSQL object names derived from a fleet name and a
// tenant id. They are deterministic and at most 63 bytes (PostgreSQL's
// identifier limit), so they are never truncated. Two valid tenant ids never
// share a schema or role name: the only rewrite is '-' to '_', and '_' is not
// allowed in an id. Role names carry the fleet prefix because roles are
// cluster-wide; the fleet name has no '_', so the first '_' ends it and two
// fleets never collide either.
//
// Names are plain strings: quote them with pgx.Identifier{...}.Sanitize()
// before putting them in SQL.
type Names struct {
	// Fleet is the fleet name, for example "tf".
	Fleet string
	// TenantID is the tenant id, for example "acme-bank".
	TenantID string
	// Schema is the tenant's schema, for example "t_acme_bank".
	Schema string
	// Role is the tenant's NOLOGIN role that owns Schema, for example
	// "tf_t_acme_bank".
	Role string
	// AppRole is the fleet's login role for shared pools, for example
	// "tf_app".
	AppRole string
}

// NamesFor derives the names of tenant id in fleet. It fails with an
// *InvalidIDError for a bad id and ErrInvalidFleet for a bad fleet name.
func NamesFor(fleet, id string) (Names, error) {
	if err := ValidateFleet(fleet); err != nil {
		return Names{}, err
	}
	if err := ValidateID(id); err != nil {
		return Names{}, err
	}
	schema := SchemaName(id)
	return Names{
		Fleet:    fleet,
		TenantID: id,
		Schema:   schema,
		Role:     fleet + "_" + schema,
		AppRole:  AppRoleName(fleet),
	}, nil
}

// SchemaName returns the schema of a valid tenant id: "t_" and the id with
// '-' replaced by '_'. It does not validate id; NamesFor does.
func SchemaName(id string) string {
	return "t_" + strings.ReplaceAll(id, "-", "_")
}

// AppRoleName returns the login role the shared pools of fleet use, for
// example "tf_app". It does not validate fleet; ValidateFleet does.
func AppRoleName(fleet string) string { return fleet + "_app" }

// ValidateFleet checks a fleet name: 1 to 12 lowercase letters or digits,
// starting with a letter (the rule of config.Config.Name).
func ValidateFleet(fleet string) error {
	if len(fleet) < 1 || len(fleet) > MaxFleetLen || fleet[0] < 'a' || fleet[0] > 'z' {
		return fmt.Errorf("%w %q: want 1 to %d lowercase letters or digits starting with a letter", ErrInvalidFleet, fleet, MaxFleetLen)
	}
	for i := 1; i < len(fleet); i++ {
		if c := fleet[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return fmt.Errorf("%w %q: want 1 to %d lowercase letters or digits starting with a letter", ErrInvalidFleet, fleet, MaxFleetLen)
		}
	}
	return nil
}
