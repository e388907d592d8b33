package local_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// A real streaming standby of a private server: an instance database is
// attached as a read replica once it has streamed there, detaching leaves
// the standby running, refs naming other servers are refused, and a
// promoted standby reports failed.
func TestReadReplicaAttachesAStandby(t *testing.T) {
	t.Parallel()
	primary := pgtest.Start(t, pgtest.Options{})
	standby := primary.StartReplica(t, nil)
	sb := fmt.Sprintf("127.0.0.1:%d", standby.Port)
	p, err := local.New(t.Context(), local.Config{AdminURL: primary.URL("postgres"), Standbys: []string{sb}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	fleet := cptest.UniqueName("t")
	src, err := p.Create(t.Context(), provider.Spec{ID: "shared-001", Tier: tenants.Shared, Fleet: fleet})
	if err != nil {
		t.Fatal(err)
	}
	var rep provider.Instance
	eventually.True(t, 30*time.Second, "the instance database streams to the standby", func() bool {
		rep, err = p.CreateReadReplica(t.Context(), src.ProviderRef, "shared-001-r1")
		return err == nil
	})
	want := "shared-001-r1@" + sb + "/" + src.ProviderRef
	if rep.ID != "shared-001-r1" || rep.ProviderRef != want || rep.Status != provider.StatusReady ||
		rep.Host != "127.0.0.1" || rep.Port != standby.Port || rep.Database != src.Database || rep.ReplicaOf != src.ProviderRef {
		t.Fatalf("replica = %+v, want %s ready on the standby", rep, want)
	}
	if again, err := p.CreateReadReplica(t.Context(), src.ProviderRef, "shared-001-r1"); err != nil || again != rep {
		t.Errorf("attach again = %+v, %v; want the same replica", again, err)
	}
	if d, err := p.Describe(t.Context(), rep.ProviderRef); err != nil || d != rep {
		t.Errorf("Describe = %+v, %v", d, err)
	}

	for _, bad := range []string{
		"shared-001-r1@127.0.0.1:1/" + src.ProviderRef, // not a configured standby
		"Bad Id@" + sb + "/" + src.ProviderRef,
		"shared-001-r1@" + sb + "/",
	} {
		if _, err := p.Describe(t.Context(), bad); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Describe %q: got %v, want ErrInvalid", bad, err)
		}
		if err := p.Delete(t.Context(), bad); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Delete %q: got %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := p.Describe(t.Context(), "shared-001-r1@"+sb+"/"+fleet+"_inst_nope"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Describe of a database not on the standby: got %v, want ErrNotFound", err)
	}
	if _, err := p.CreateReadReplica(t.Context(), fleet+"_inst_nope", "nope-r1"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("replica of a missing instance: got %v, want ErrNotFound", err)
	}
	if _, err := p.CreateReadReplica(t.Context(), rep.ProviderRef, "r1-r1"); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("replica of a replica: got %v, want ErrInvalid", err)
	}

	// Detaching stops nothing and drops nothing.
	if err := p.Delete(t.Context(), rep.ProviderRef); err != nil {
		t.Fatalf("Delete replica: %v", err)
	}
	if d, err := p.Describe(t.Context(), src.ProviderRef); err != nil || d.Status != provider.StatusReady {
		t.Fatalf("source after detaching its replica = %+v, %v", d, err)
	}
	if d, err := p.Describe(t.Context(), rep.ProviderRef); err != nil || d.Status != provider.StatusReady {
		t.Fatalf("standby after detaching = %+v, %v", d, err)
	}

	// A promoted standby is no replica.
	conn, err := pgx.Connect(t.Context(), standby.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "SELECT pg_promote()"); err != nil {
		t.Fatal(err)
	}
	if d, err := p.Describe(t.Context(), rep.ProviderRef); err != nil || d.Status != provider.StatusFailed {
		t.Errorf("promoted standby = %+v, %v; want failed", d, err)
	}
	if _, err := p.CreateReadReplica(t.Context(), src.ProviderRef, "shared-001-r2"); !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("attach to a promoted standby: got %v, want ErrUnavailable", err)
	}
}

func TestStandbysConfigValidated(t *testing.T) {
	t.Parallel()
	_, err := local.New(t.Context(), local.Config{AdminURL: "postgres://postgres@127.0.0.1:5432/postgres", Standbys: []string{"nohost"}})
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("New with a bad standby: got %v, want ErrInvalid", err)
	}
}
