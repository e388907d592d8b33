package rds

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxIdentifier is RDS's limit on DB instance identifiers.
const maxIdentifier = 63

// Identifier returns the DB instance identifier of instance id in fleet:
// "<fleet>-<id>". Fleet names start with a letter and instance ids are
// lowercase letters, digits and hyphens, so this satisfies RDS's rules
// (letters, digits and hyphens, starting with a letter, at most 63
// characters, no two consecutive hyphens, no trailing hyphen) except when
// the id holds a double hyphen: then runs of hyphens are collapsed and a
// short hash of the original id is appended, keeping the mapping one to
// one.
func Identifier(fleet, id string) string {
	raw := fleet + "-" + id
	if !strings.Contains(raw, "--") && len(raw) <= maxIdentifier && !strings.HasSuffix(raw, "-") {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '-' && b.Len() > 0 && strings.HasSuffix(b.String(), "-") {
			continue
		}
		b.WriteByte(raw[i])
	}
	sum := sha256.Sum256([]byte(raw))
	suffix := "-" + hex.EncodeToString(sum[:3])
	base := strings.TrimRight(b.String(), "-")
	if len(base)+len(suffix) > maxIdentifier {
		base = strings.TrimRight(base[:maxIdentifier-len(suffix)], "-")
	}
	return base + suffix
}
