package auth

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password length bounds. bcrypt reads at most 72 bytes; a longer password
// is refused rather than silently cut.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 72
)

// PasswordCost is the default bcrypt cost of new password hashes (2^11
// rounds; one check took 0.26 s on the 2-core development machine).
const PasswordCost = 11

// Bounds of a bcrypt cost: 4 (tests only) to 14 (about 1.6 s a login).
const (
	MinPasswordCost = bcrypt.MinCost
	MaxPasswordCost = 14
)

// ErrWeakPassword marks a password outside the length bounds.
var ErrWeakPassword = errors.New("auth: password must be 12 to 72 bytes")

// HashPassword returns the bcrypt hash of password at PasswordCost.
func HashPassword(password string) (string, error) { return HashPasswordCost(password, PasswordCost) }

// HashPasswordCost returns the bcrypt hash of password at cost
// (MinPasswordCost to MaxPasswordCost).
func HashPasswordCost(password string, cost int) (string, error) {
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen || !utf8.ValidString(password) {
		return "", ErrWeakPassword
	}
	if cost < MinPasswordCost || cost > MaxPasswordCost {
		return "", fmt.Errorf("auth: bcrypt cost %d outside %d to %d", cost, MinPasswordCost, MaxPasswordCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash, in the time bcrypt
// takes whatever the answer.
func CheckPassword(hash, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
