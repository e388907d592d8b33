package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/stdwebhook"
)

// ErrBadSignature marks a webhook whose signature is missing, malformed,
// wrong or stale (401). Its message never quotes the signature.
var ErrBadSignature = errors.New("missing or invalid webhook signature")

// verifyHubSignature checks a Jira "X-Hub-Signature: sha256=<hex>" header:
// the HMAC-SHA256 of the raw body with secret, compared in constant time.
// Any other algorithm is refused.
func verifyHubSignature(secret, header string, body []byte) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret configured", ErrBadSignature)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: want sha256=<hex>", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: want sha256=<hex>", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: mismatch", ErrBadSignature)
	}
	return nil
}

// Standard Webhooks headers.
const (
	headerWebhookID        = stdwebhook.HeaderID
	headerWebhookTimestamp = stdwebhook.HeaderTimestamp
	headerWebhookSignature = stdwebhook.HeaderSignature
)

// verifyStandard checks a Standard Webhooks signature: header sigs holds
// space-separated "v1,<base64>" signatures, one of which must be the
// HMAC-SHA256 with key of "{id}.{timestamp}.{body}"; the timestamp (unix
// seconds) must lie within window of now, against replays.
func verifyStandard(key []byte, id, timestamp, sigs string, body []byte, now time.Time, window time.Duration) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: no secret configured", ErrBadSignature)
	}
	if id == "" || timestamp == "" || sigs == "" {
		return fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature are required", ErrBadSignature)
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrBadSignature)
	}
	nowSecs := now.Unix()
	if secs < nowSecs-int64(window/time.Second) || secs > nowSecs+int64(window/time.Second) {
		return fmt.Errorf("%w: webhook-timestamp outside the %s window", ErrBadSignature, window)
	}
	want := stdwebhook.MAC(key, id, timestamp, body)
	for sig := range strings.FieldsSeq(sigs) {
		b64, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching v1 signature", ErrBadSignature)
}
