package cptest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TenantTrap is what a tenant that wants more than its own data plants on
// its own objects: a row-level-security policy, a trigger, a rule and an
// index over a function falsely declared IMMUTABLE, each calling one PL/pgSQL
// function that records who runs it, does RESET ROLE, and then tries to copy
// a neighbour's rows into the tenant's schema and to make the tenant role a
// superuser. The fleet's per-tenant work must run the trap (if at all) as the
// tenant and gain it nothing. Every agent that touches tenant objects reuses
// it in its tests.
type TenantTrap struct {
	// Schema and Role are the attacker tenant's schema and role.
	Schema, Role string
	// Victim is the neighbour's table the trap tries to read, quoted.
	Victim string
}

// trapFunctionSQL is the trap's body; %[1]s is the quoted schema, %[2]s the
// victim table, %[3]s the role as a literal.
const trapFunctionSQL = `
CREATE TABLE %[1]s.trap_log (
    fired_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    source       text NOT NULL,
    before_user  text NOT NULL,
    session_name text NOT NULL,
    after_reset  text,
    superuser    boolean,
    steal_error  text,
    escalate_error text
);
CREATE TABLE %[1]s.loot (data text);
CREATE FUNCTION %[1]s.trap_fire(src text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $trap$
DECLARE
    before_u text := current_user;
    after_u text;
    su boolean;
    steal_err text;
    esc_err text;
BEGIN
    BEGIN
        RESET ROLE;
        after_u := current_user;
        SELECT rolsuper INTO su FROM pg_catalog.pg_roles WHERE rolname = current_user;
        BEGIN
            INSERT INTO %[1]s.loot SELECT row_to_json(victim_row)::text FROM %[2]s victim_row;
        EXCEPTION WHEN OTHERS THEN steal_err := SQLERRM;
        END;
        BEGIN
            EXECUTE format('ALTER ROLE %%I SUPERUSER', %[3]s);
        EXCEPTION WHEN OTHERS THEN esc_err := SQLERRM;
        END;
    EXCEPTION WHEN OTHERS THEN steal_err := coalesce(steal_err, SQLERRM);
    END;
    INSERT INTO %[1]s.trap_log (source, before_user, session_name, after_reset, superuser, steal_error, escalate_error)
    VALUES (src, before_u, session_user, after_u, su, steal_err, esc_err);
    RETURN true;
END
$trap$;
CREATE FUNCTION %[1]s.trap_trigger() RETURNS trigger LANGUAGE plpgsql AS $t$
BEGIN PERFORM %[1]s.trap_fire('trigger:' || TG_TABLE_NAME); RETURN NEW; END
$t$;
CREATE FUNCTION %[1]s.trap_immutable(v bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $i$
BEGIN PERFORM %[1]s.trap_fire('index'); RETURN v; END
$i$;
`

// trapTableSQL arms one table; %[1]s is the schema, %[2]s the quoted
// table, %[3]s a name suffix, %[4]s a bigint column of the table.
const trapTableSQL = `
ALTER TABLE %[2]s ENABLE ROW LEVEL SECURITY;
ALTER TABLE %[2]s FORCE ROW LEVEL SECURITY;
CREATE POLICY trap_policy_%[3]s ON %[2]s USING (%[1]s.trap_fire('policy'));
CREATE TRIGGER trap_trigger_%[3]s BEFORE INSERT OR UPDATE OR DELETE ON %[2]s
    FOR EACH ROW EXECUTE FUNCTION %[1]s.trap_trigger();
CREATE RULE trap_rule_%[3]s AS ON INSERT TO %[2]s DO ALSO SELECT %[1]s.trap_fire('rule');
CREATE INDEX trap_index_%[3]s ON %[2]s (%[1]s.trap_immutable(%[4]s));
`

// trapTimeout bounds the trap's set-up and checks.
const trapTimeout = 30 * time.Second

// TrapTable is a table of the tenant's schema to arm, with a bigint (or
// integer) column for the index expression.
type TrapTable struct {
	Name, Column string
}

// PlantTenantTrap plants the trap in schema as role, the way the tenant's
// own SQL would (one transaction switched to the tenant's role, as
// tenants.Pools scopes it), arming each table. victim is a neighbour's table
// (schema-qualified, unquoted parts) that must stay out of reach. admin is
// any session that may SET ROLE to role.
func PlantTenantTrap(t testing.TB, admin *pgxpool.Pool, schema, role string, victim [2]string, tables ...TrapTable) *TenantTrap {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), trapTimeout)
	defer cancel()
	trap := &TenantTrap{Schema: schema, Role: role, Victim: pgx.Identifier{victim[0], victim[1]}.Sanitize()}
	s := pgx.Identifier{schema}.Sanitize()
	var ddl strings.Builder
	fmt.Fprintf(&ddl, trapFunctionSQL, s, trap.Victim, "'"+strings.ReplaceAll(role, "'", "''")+"'")
	for i, tb := range tables {
		fmt.Fprintf(&ddl, trapTableSQL, s, pgx.Identifier{schema, tb.Name}.Sanitize(), strconv.Itoa(i), pgx.Identifier{tb.Column}.Sanitize())
	}
	err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true)", role); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, ddl.String())
		return err
	})
	if err != nil {
		t.Fatalf("cptest: plant tenant trap in %s: %v", schema, err)
	}
	// Planting ran the index function once, as the tenant: start clean.
	if _, err := admin.Exec(ctx, "DELETE FROM "+s+".trap_log"); err != nil {
		t.Fatalf("cptest: clear trap log: %v", err)
	}
	return trap
}

// TrapFiring is one run of the trap.
type TrapFiring struct {
	Source, BeforeUser, SessionUser, AfterReset string
	Superuser                                   bool
}

// AssertGainedNothing fails the test when the trap ever ran in a session
// that RESET ROLE led out of the tenant's role, when anything was stolen,
// or when the tenant role became a superuser. mustFire also fails it when
// the trap never ran (the fleet's work did touch the armed tables, so a
// trap that did not fire means the test tested nothing). It returns the
// firings, for the caller's own checks. admin must see the tenant's schema.
func (tr *TenantTrap) AssertGainedNothing(t testing.TB, admin *pgxpool.Pool, mustFire bool) []TrapFiring {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), trapTimeout)
	defer cancel()
	s := pgx.Identifier{tr.Schema}.Sanitize()
	rows, err := admin.Query(ctx, `SELECT source, before_user, session_name, coalesce(after_reset, ''), coalesce(superuser, false)
		FROM `+s+`.trap_log ORDER BY fired_at`)
	if err != nil {
		t.Fatalf("cptest: read trap log: %v", err)
	}
	firings, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TrapFiring])
	if err != nil {
		t.Fatalf("cptest: read trap log: %v", err)
	}
	for _, f := range firings {
		if f.AfterReset != tr.Role || f.SessionUser != tr.Role || f.Superuser {
			t.Errorf("trap %s ran in session of %s and RESET ROLE led to %s (superuser %v): the session could become more than tenant %s",
				f.Source, f.SessionUser, f.AfterReset, f.Superuser, tr.Role)
		}
	}
	var stolen int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+s+".loot").Scan(&stolen); err != nil {
		t.Fatalf("cptest: read loot: %v", err)
	}
	if stolen > 0 {
		t.Errorf("trap copied %d rows of %s into %s", stolen, tr.Victim, tr.Schema)
	}
	var super bool
	if err := admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", tr.Role).Scan(&super); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("cptest: read role %s: %v", tr.Role, err)
	}
	if super {
		t.Errorf("tenant role %s became a superuser", tr.Role)
	}
	if mustFire && len(firings) == 0 {
		t.Errorf("the trap in %s never fired: the fleet's work did not touch the armed tables, so nothing was tested", tr.Schema)
	}
	return firings
}
