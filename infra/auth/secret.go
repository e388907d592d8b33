package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// TokenPrefix starts every named API token ("tft_" and 43 characters of
// base64url, 256 random bits), so a leaked one is recognisable and the
// front tells it from FLEET_API_TOKEN without a database read.
const TokenPrefix = "tft_"

// NewSecret returns 256 random bits, base64url without padding.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewToken returns a fresh named API token.
func NewToken() string { return TokenPrefix + NewSecret() }

// IsToken reports whether s has the shape of a named API token.
func IsToken(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) && len(s) > len(TokenPrefix)+16
}

// Digest is the SHA-256 a token or session id is stored and looked up by.
// The secrets have 256 random bits, so a fast hash is enough.
func Digest(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}

// SameSecret compares two secrets in constant time (for their contents;
// the length may leak).
func SameSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
