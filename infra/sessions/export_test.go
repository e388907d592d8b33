package sessions

import (
	"encoding/base64"
	"errors"
	"strings"
)

// VerifierWithSalt recomputes a verifier for password with the salt of the
// verifier stored, for tests.
func VerifierWithSalt(password, stored string) (string, error) {
	_, rest, ok := strings.Cut(stored, ":")
	if !ok {
		return "", errors.New("no salt")
	}
	salt64, _, ok := strings.Cut(rest, "$")
	if !ok {
		return "", errors.New("no salt")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return "", err
	}
	return verifierWithSalt(password, salt)
}
