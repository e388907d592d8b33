package intake

import (
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ticketBody is the generic ticket webhook's JSON body. Unknown fields are
// ignored, so ticket systems may send more.
type ticketBody struct {
	TicketID string `json:"ticket_id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	// Isolation is "pooled" (default) or "strict".
	Isolation   string `json:"isolation"`
	RequestedBy string `json:"requested_by"`
	// Restore re-onboards an offboarded tenant with its archived schema.
	Restore bool `json:"restore"`
}

// parseTicket maps a generic ticket body to a request, not yet validated
// beyond the ticket id being present.
func parseTicket(body []byte) (Request, error) {
	var t ticketBody
	if err := decodeJSON(body, &t, false); err != nil {
		return Request{}, err
	}
	if t.TicketID == "" {
		return Request{}, invalid("ticket_id", "is required")
	}
	return Request{
		Source:      SourceTicket,
		TicketKey:   t.TicketID,
		TenantID:    t.TenantID,
		Name:        t.Name,
		Tier:        tenants.Tier(t.Tier),
		Isolation:   tenants.Isolation(t.Isolation),
		RequestedBy: t.RequestedBy,
		Restore:     t.Restore,
	}, nil
}
