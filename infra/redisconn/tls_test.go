package redisconn_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/redistest"
	"github.com/tenantfleet/tenantfleet/queue"
)

// quietLogger discards the workers' logs.
var quietLogger = slog.New(slog.DiscardHandler)

// open builds a target from c and a client closed when the test ends.
func open(t *testing.T, c redisconn.Config) (*redisconn.Target, *redis.Client) {
	t.Helper()
	target, err := redisconn.New(c)
	if err != nil {
		t.Fatalf("redisconn.New: %v", err)
	}
	client := target.NewClient()
	t.Cleanup(func() { _ = client.Close() })
	return target, client
}

// pingErr pings once, without go-redis's retries, within a few seconds.
func pingErr(t *testing.T, c redisconn.Config) error {
	t.Helper()
	target, err := redisconn.New(c)
	if err != nil {
		t.Fatalf("redisconn.New: %v", err)
	}
	client := target.NewClient()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Ping(ctx).Err()
}

// TestRedissVerifiesTheServerAndCarriesTheFleet runs the fleet's Redis
// users over TLS to a private TLS-only redis-server that requires a client
// certificate and a password: a go-redis client, the fleet's queue
// (Asynq client and worker) and an Asynq inspector built from ConnOpt, as
// Asynqmon is.
func TestRedissVerifiesTheServerAndCarriesTheFleet(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	const password = "tls-pass-7"
	srv := redistest.Start(t, redistest.Options{TLS: &certs, Password: password})
	cfg := redisconn.Config{
		URL:    fmt.Sprintf("rediss://:%s@127.0.0.1:%d/3", password, srv.Port),
		CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile,
	}
	target, client := open(t, cfg)
	ctx := context.Background()
	if err := client.Set(ctx, "k", "over-tls", 0).Err(); err != nil {
		t.Fatalf("SET over rediss://: %v", err)
	}
	if got, err := client.Get(ctx, "k").Result(); err != nil || got != "over-tls" {
		t.Fatalf("GET over rediss:// = %q, %v", got, err)
	}
	// The path's database is selected.
	if n, err := client.Do(ctx, "CLIENT", "INFO").Text(); err != nil || !strings.Contains(n, " db=3 ") {
		t.Errorf("CLIENT INFO = %q, %v; want db=3", n, err)
	}

	// The queue: a task enqueued through queue.Client is run by queue.Worker.
	done := make(chan string, 1)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: client, Concurrency: 1, ShutdownTimeout: 5 * time.Second,
		Queues: map[string]int{queue.QueueDefault: 1}, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("tls:ping", func(_ context.Context, task *asynq.Task) error {
		done <- string(task.Payload())
		return nil
	})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	qc := queue.NewClient(client)
	t.Cleanup(func() { _ = qc.Close() })
	if _, err := qc.Enqueue(ctx, asynq.NewTask("tls:ping", []byte("hello")), asynq.Queue(queue.QueueDefault)); err != nil {
		t.Fatalf("enqueue over rediss://: %v", err)
	}
	select {
	case got := <-done:
		if got != "hello" {
			t.Errorf("worker ran payload %q, want hello", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the task enqueued over rediss:// did not run within 30s")
	}

	// An inspector that makes its own client from ConnOpt (as Asynqmon
	// does) reaches the same server and database.
	inspector := asynq.NewInspector(target.ConnOpt())
	t.Cleanup(func() { _ = inspector.Close() })
	queues, err := inspector.Queues()
	if err != nil || !strings.Contains(strings.Join(queues, ","), queue.QueueDefault) {
		t.Errorf("inspector over ConnOpt: queues %v, %v; want %s listed", queues, err, queue.QueueDefault)
	}
}

// TestRedissRefusesWhatItCannotVerify is the attacker's path: a server
// whose certificate no trusted CA signed, or a client that would not
// present its certificate, never gets a session.
func TestRedissRefusesWhatItCannotVerify(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	rogue := redistest.NewCerts(t)
	const password = "tls-pass-8"
	srv := redistest.Start(t, redistest.Options{TLS: &certs, Password: password})
	good := redisconn.Config{
		URL:    fmt.Sprintf("rediss://:%s@127.0.0.1:%d/0", password, srv.Port),
		CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile,
	}
	if err := pingErr(t, good); err != nil {
		t.Fatalf("the correctly configured client fails: %v", err)
	}
	byName := good
	byName.URL = fmt.Sprintf("rediss://:%s@localhost:%d/0", password, srv.Port)
	if err := pingErr(t, byName); err != nil {
		t.Errorf("rediss://localhost (a DNS name of the certificate) fails: %v", err)
	}

	var unknownAuthority x509.UnknownAuthorityError
	noCA := good
	noCA.CAFile = ""
	if err := pingErr(t, noCA); !errors.As(err, &unknownAuthority) {
		t.Errorf("without FLEET_REDIS_CA_FILE (system roots): %v, want x509.UnknownAuthorityError", err)
	}
	otherCA := good
	otherCA.CAFile = rogue.CAFile
	if err := pingErr(t, otherCA); !errors.As(err, &unknownAuthority) {
		t.Errorf("trusting another CA: %v, want x509.UnknownAuthorityError", err)
	}
	noClientCert := good
	noClientCert.CertFile, noClientCert.KeyFile = "", ""
	if err := pingErr(t, noClientCert); err == nil {
		t.Error("a client without a certificate got a session from a server requiring one")
	}
	plain := redisconn.Config{URL: fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", password, srv.Port)}
	if err := pingErr(t, plain); err == nil {
		t.Error("plain redis:// to the TLS port answered")
	}
	wrongPassword := good
	wrongPassword.URL = fmt.Sprintf("rediss://:not-the-password@127.0.0.1:%d/0", srv.Port)
	err := pingErr(t, wrongPassword)
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("wrong password: %v, want WRONGPASS", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("the error echoes the password: %v", err)
	}
}

// TestPasswordURLAuthenticates connects with requirepass (":pass@") and
// with an ACL user ("user:pass@"), and is refused without them.
func TestPasswordURLAuthenticates(t *testing.T) {
	t.Parallel()
	const password = "req-pass/with@chars"
	srv := redistest.Start(t, redistest.Options{Password: password})
	escaped := "req-pass%2Fwith%40chars"
	_, admin := open(t, redisconn.Config{URL: fmt.Sprintf("redis://:%s@%s/0", escaped, srv.Addr())})
	ctx := context.Background()
	if err := admin.Set(ctx, "who", "default", 0).Err(); err != nil {
		t.Fatalf("requirepass via redis://:pass@: %v", err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "fleet", "on", ">fleet-pass-9", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	_, user := open(t, redisconn.Config{URL: fmt.Sprintf("redis://fleet:fleet-pass-9@%s/5", srv.Addr())})
	if got, err := user.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || got != "fleet" {
		t.Errorf("ACL WHOAMI via redis://fleet:pass@ = %q, %v; want fleet", got, err)
	}
	if err := pingErr(t, redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("without a password: %v, want NOAUTH", err)
	}
	err := pingErr(t, redisconn.Config{URL: fmt.Sprintf("redis://fleet:wrong-pass-1@%s/0", srv.Addr())})
	if err == nil || strings.Contains(err.Error(), "wrong-pass-1") {
		t.Errorf("wrong ACL password: %v, want a refusal that does not echo it", err)
	}
}
