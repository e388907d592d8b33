// Package stdwebhook implements the signing side and the shared pieces of
// Standard Webhooks (https://www.standardwebhooks.com): the secret format,
// the signed content and the headers. The intake verifies deliveries with
// it and the alert webhook sink signs them.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// ErrBadSecret marks a "whsec_" secret whose rest is not base64. It never
// quotes the secret.
var ErrBadSecret = errors.New("whsec_ secret is not valid base64")

// DecodeSecret returns the signing key of a secret: "whsec_<base64>" is
// the decoded key, anything else the raw bytes.
func DecodeSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// MAC is the HMAC-SHA256 with key of "{id}.{timestamp}.{body}".
func MAC(key []byte, id, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Sign sets the three Standard Webhooks headers of a delivery of body with
// message id, sent at now: "v1,<base64 MAC>".
func Sign(h http.Header, key []byte, id string, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(MAC(key, id, ts, body)))
}
