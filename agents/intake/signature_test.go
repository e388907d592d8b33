package intake

import (
	"errors"
	"testing"
	"time"
)

func TestVerifyStandard(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	body := []byte(`{"ticket_id":"T-1"}`)
	now := time.Unix(1_700_000_000, 0)
	sig := signStandard(key, "msg", now, body)
	ts := "1700000000"
	tests := []struct {
		name         string
		key          []byte
		id, ts, sigs string
		now          time.Time
		wantValid    bool
	}{
		{"valid", key, "msg", ts, sig, now, true},
		{"valid among others", key, "msg", ts, "v1,AAAA " + sig, now, true},
		{"edge of window", key, "msg", ts, sig, now.Add(5 * time.Minute), true},
		{"past window", key, "msg", ts, sig, now.Add(5*time.Minute + time.Second), false},
		{"before window", key, "msg", ts, sig, now.Add(-5*time.Minute - time.Second), false},
		{"no key", nil, "msg", ts, sig, now, false},
		{"no id", key, "", ts, sig, now, false},
		{"no signature", key, "msg", ts, "", now, false},
		{"bad base64", key, "msg", ts, "v1,***", now, false},
		{"timestamp with fraction", key, "msg", "1700000000.0", sig, now, false},
		{"huge timestamp", key, "msg", "9223372036854775807", sig, now, false},
		{"negative timestamp", key, "msg", "-9223372036854775808", sig, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := verifyStandard(tt.key, tt.id, tt.ts, tt.sigs, body, tt.now, 5*time.Minute)
			if got := err == nil; got != tt.wantValid {
				t.Errorf("valid: got %v (%v), want %v", got, err, tt.wantValid)
			}
			if err != nil && !errors.Is(err, ErrBadSignature) {
				t.Errorf("err: got %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestTicketKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		secret  string
		want    string
		wantErr bool
	}{
		{"whsec_dGlja2V0LXRlc3Qta2V5", "ticket-test-key", false},
		{"plain-secret", "plain-secret", false},
		{"whsec_!!!", "", true},
		{"whsec_", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ticketKey(tt.secret)
		if (err != nil) != tt.wantErr || string(got) != tt.want {
			t.Errorf("ticketKey(%q): got %q, %v; want %q, err %v", tt.secret, got, err, tt.want, tt.wantErr)
		}
	}
}
