package migrate_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
)

func TestIndexStatementRoundTripsQuotedNames(t *testing.T) {
	b := migrate.IndexBuild{Name: `ix"; DROP TABLE t; --`, Table: "orders", Columns: []string{"a", `b"c`}}
	sql, err := migrate.CreateIndexStatement(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := `CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix""; DROP TABLE t; --" ON "orders" ("a", "b""c")`; sql != want {
		t.Fatalf("statement %q, want %q", sql, want)
	}
	got, err := migrate.ParseIndexStatement(sql)
	if err != nil || got.Name != b.Name || got.Table != b.Table || !slices.Equal(got.Columns, b.Columns) {
		t.Fatalf("parsed %+v %v, want %+v", got, err, b)
	}
}

func TestIndexStatementRefusesAnythingElse(t *testing.T) {
	for _, sql := range []string{
		"",
		"DROP TABLE orders",
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "t" ("a"); DROP TABLE t`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "t" ("a") WHERE evil()`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "t" ((evil()))`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "s"."t" ("a")`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "t" ("a"" ); DROP TABLE t; --")x`,
		`CREATE INDEX IF NOT EXISTS "i" ON "t" ("a")`,
	} {
		if _, err := migrate.ParseIndexStatement(sql); !errors.Is(err, migrate.ErrInvalidStatement) {
			t.Errorf("ParseIndexStatement(%q): %v, want ErrInvalidStatement", sql, err)
		}
	}
	for _, b := range []migrate.IndexBuild{
		{Name: "", Table: "t", Columns: []string{"a"}},
		{Name: "i", Table: "t"},
		{Name: "i", Table: "t", Columns: []string{"a\x00"}},
		{Name: string(make([]byte, 64)), Table: "t", Columns: []string{"a"}},
	} {
		if _, err := migrate.CreateIndexStatement(b); !errors.Is(err, migrate.ErrInvalidStatement) {
			t.Errorf("CreateIndexStatement(%+v): %v, want ErrInvalidStatement", b, err)
		}
	}
}

// A run's statement is checked at Start like the rest of its spec: free
// SQL never becomes a run.
func TestStartRefusesAFreeStatement(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.addInstance(t, "i", 1, "", "127.0.0.1", 5432)
	_, err := e.runner.Start(testContext(t), migrate.Spec{Statement: "DROP SCHEMA public CASCADE"})
	if !errors.Is(err, migrate.ErrInvalidSpec) || !errors.Is(err, migrate.ErrInvalidStatement) {
		t.Fatalf("Start: %v, want ErrInvalidSpec and ErrInvalidStatement", err)
	}
	var runs int
	if err := e.cp.QueryRow(testContext(t), "SELECT count(*) FROM migration_runs").Scan(&runs); err != nil || runs != 0 {
		t.Fatalf("runs recorded: %d %v", runs, err)
	}
}

func TestDropIndexStatementRoundTripsQuotedNames(t *testing.T) {
	name := `ix"; DROP TABLE t; --`
	sql, err := migrate.DropIndexStatement(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := `DROP INDEX CONCURRENTLY IF EXISTS "ix""; DROP TABLE t; --"`; sql != want {
		t.Fatalf("statement %q, want %q", sql, want)
	}
	got, err := migrate.ParseDropIndexStatement(sql)
	if err != nil || got != name {
		t.Fatalf("parsed %q %v, want %q", got, err, name)
	}
	if err := migrate.ValidateStatement(sql); err != nil {
		t.Errorf("ValidateStatement: %v", err)
	}
}

func TestDropIndexStatementRefusesAnythingElse(t *testing.T) {
	for _, sql := range []string{
		`DROP INDEX CONCURRENTLY IF EXISTS i`,
		`DROP INDEX CONCURRENTLY IF EXISTS "s"."i"`,
		`DROP INDEX CONCURRENTLY IF EXISTS "i" CASCADE`,
		`DROP INDEX CONCURRENTLY IF EXISTS "i", "j"`,
		`DROP INDEX IF EXISTS "i"`,
		`DROP INDEX CONCURRENTLY "i"`,
		`DROP INDEX CONCURRENTLY IF EXISTS "i"; DROP TABLE t`,
		`DROP INDEX CONCURRENTLY IF EXISTS "i"" ; DROP TABLE t; --"x`,
		`DROP TABLE CONCURRENTLY IF EXISTS "i"`,
		`drop index concurrently if exists "i"`,
	} {
		if _, err := migrate.ParseDropIndexStatement(sql); !errors.Is(err, migrate.ErrInvalidStatement) {
			t.Errorf("ParseDropIndexStatement(%q): %v, want ErrInvalidStatement", sql, err)
		}
		if err := migrate.ValidateStatement(sql); !errors.Is(err, migrate.ErrInvalidStatement) {
			t.Errorf("ValidateStatement(%q): %v, want ErrInvalidStatement", sql, err)
		}
	}
	for _, name := range []string{"", "a\x00b", string(make([]byte, 64)), "\xff"} {
		if _, err := migrate.DropIndexStatement(name); !errors.Is(err, migrate.ErrInvalidStatement) {
			t.Errorf("DropIndexStatement(%q): %v, want ErrInvalidStatement", name, err)
		}
	}
}
