package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ticketSender posts generic ticket webhooks to /webhooks/tickets, signed
// the Standard Webhooks way with secret (the raw bytes behind the fleet's
// "whsec_<base64>" FLEET_WEBHOOK_SECRET).
type ticketSender struct {
	base   string // http://host:port
	secret []byte
	http   *http.Client
}

// send posts one shared-tier ticket for tenant id under webhook-id msgID
// (a redelivery reuses it) and wants a 202.
func (s ticketSender) send(ctx context.Context, ticketID, id, msgID string) error {
	body, _ := json.Marshal(map[string]string{"ticket_id": ticketID, "tenant_id": id, "name": id,
		"tier": "shared", "requested_by": "fleetbench"})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(msgID + "." + ts + "."))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/webhooks/tickets", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("webhook answered %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}
