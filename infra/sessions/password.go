package sessions

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// MinKeyLen is the shortest secret key accepted, in bytes.
const MinKeyLen = 32

// ErrShortKey means the secret key is shorter than MinKeyLen.
var ErrShortKey = errors.New("sessions: secret key shorter than 32 bytes")

// scramIterations is the PBKDF2 iteration count of verifiers, PostgreSQL's
// default (scram_iterations).
const scramIterations = 4096

// passwordContext separates tenant login passwords from anything else the
// fleet key may ever derive.
const passwordContext = "tenantfleet/tenant-login/v1/"

// Password derives the login password of role under key: 43 characters of
// URL-safe base64. It is a secret: never log it.
func Password(key []byte, role string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(passwordContext + role))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for
// password, with a fresh random salt (RFC 7677; the format of
// pg_authid.rolpassword). Sending the verifier instead of the password keeps
// the password out of the server's statement log.
func Verifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("sessions: salt: %w", err)
	}
	return verifierWithSalt(password, salt)
}

func verifierWithSalt(password string, salt []byte) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("sessions: pbkdf2: %w", err)
	}
	clientKey := hmacSum(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSum(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(scramIterations) + ":" + b64(salt) + "$" +
		b64(storedKey[:]) + ":" + b64(serverKey), nil
}

func hmacSum(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}
