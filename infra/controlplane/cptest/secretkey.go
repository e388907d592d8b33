package cptest

import (
	"crypto/rand"
	"testing"
)

// SecretKey returns a fresh random fleet secret key (FLEET_SECRET_KEY).
func SecretKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("cptest: secret key: %v", err)
	}
	return key
}
