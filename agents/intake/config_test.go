package intake

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	db := &pgxpool.Pool{} // never used: New does not connect
	q := queue.NewClient(redis.NewClient(&redis.Options{}))
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"valid", Config{DB: db, Queue: q}, ""},
		{"no db", Config{Queue: q}, "DB pool is required"},
		{"no queue", Config{DB: db}, "Queue client is required"},
		{"bad whsec", Config{DB: db, Queue: q, TicketSecret: "whsec_%%"}, "not valid base64"},
		{"bad tier", Config{DB: db, Queue: q, Jira: JiraMapping{DefaultTier: "gold"}}, "not a tier"},
		{"bad field", Config{DB: db, Queue: q, Jira: JiraMapping{TenantField: "custom field"}}, "not a field id"},
		{"same prefixes", Config{DB: db, Queue: q, Jira: JiraMapping{TenantLabelPrefix: "x:", TierLabelPrefix: "x:"}}, "must differ"},
		{"fast reconcile", Config{DB: db, Queue: q, Config: outbox.Config{ReconcileEvery: 10}}, "at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "%%") {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{Config: outbox.Config{MaxRetry: -1, ReconcileMinAge: -1}}.withDefaults()
	if c.MaxBodyBytes != 1<<20 || c.ReplayWindow.Minutes() != 5 || c.MaxRetry != 0 || c.ReconcileMinAge != 0 ||
		c.ReconcileEvery.Seconds() != 10 || c.Jira.TenantLabelPrefix != "tenant:" || c.Jira.DefaultTier != "shared" ||
		len(c.Jira.Events) != 2 {
		t.Errorf("defaults: got %+v", c)
	}
	if got := (Config{}).withDefaults().MaxRetry; got != DefaultMaxRetry {
		t.Errorf("MaxRetry default: got %d, want %d", got, DefaultMaxRetry)
	}
}
