package cost

import (
	"testing"
)

var nextOID int64

func btree(name string, nkey int, cols ...string) tenantIndex {
	nextOID++
	ix := tenantIndex{Schema: "s", Table: "t", Name: name, OID: nextOID, AM: "btree",
		Valid: true, Droppable: true, NKey: nkey, Columns: cols}
	for range nkey {
		ix.Classes, ix.Collations, ix.Options = append(ix.Classes, 1), append(ix.Collations, 0), append(ix.Options, 0)
	}
	return ix
}

// A btree index is redundant when another valid btree on the table begins
// with its key (same opclasses, collations, options and predicate) and
// holds its INCLUDE columns; of exact duplicates, one is kept.
func TestCoveringIndex(t *testing.T) {
	a := btree("a", 1, "x")
	ab := btree("ab", 2, "x", "y")
	a2 := btree("a2", 1, "x")
	pk := btree("pk", 1, "x")
	pk.Protected = true
	inc := btree("inc", 1, "x", "z") // INCLUDE (z)
	desc := btree("desc", 1, "x")
	desc.Options = []int16{3}
	pred := "(y > 0)"
	partial := btree("partial", 1, "x")
	partial.Predicate = &pred
	otherClass := btree("otherclass", 1, "x")
	otherClass.Classes = []int64{2}
	invalid := btree("invalid", 2, "x", "y")
	invalid.Valid = false
	hash := btree("hash", 1, "x")
	hash.AM = "hash"
	table := []tenantIndex{a, ab, a2, pk, inc, desc, partial, otherClass, invalid, hash}
	for _, c := range []struct {
		ix   tenantIndex
		want string
	}{
		{a, "pk"},        // a key index first
		{a2, "pk"},       // exact duplicate of a and of pk
		{ab, ""},         // nothing is longer
		{inc, ""},        // nobody holds z
		{desc, ""},       // another ordering
		{partial, ""},    // no other index with its predicate
		{otherClass, ""}, // another opclass
		{pk, ""},         // a key index is never dropped
		{invalid, ""},    // an invalid index is never advised
		{hash, ""},       // only btree
	} {
		got, ok := coveringIndex(c.ix, table)
		if (c.want == "") == ok || (ok && got.Name != c.want) {
			t.Errorf("coveringIndex(%s) = %s %v, want %q", c.ix.Name, got.Name, ok, c.want)
		}
	}
	// Without the key index: a2 is covered by a (the name sorting first),
	// a by ab (not by a2, which is the one dropped).
	rest := []tenantIndex{a, ab, a2}
	if got, ok := coveringIndex(a2, rest); !ok || got.Name != "a" {
		t.Errorf("a2 covered by %s %v, want a", got.Name, ok)
	}
	if got, ok := coveringIndex(a, rest); !ok || got.Name != "ab" {
		t.Errorf("a covered by %s %v, want ab", got.Name, ok)
	}
	// The index with INCLUDE (z) is covered by one holding z.
	xz := btree("xz", 2, "x", "z")
	if got, ok := coveringIndex(inc, []tenantIndex{inc, xz}); !ok || got.Name != "xz" {
		t.Errorf("inc covered by %s %v, want xz", got.Name, ok)
	}
}

func TestNormalizeDefinitionDropsNameAndSchema(t *testing.T) {
	got := normalizeDefinition(`CREATE INDEX orders_f_idx ON t_a.orders USING btree (t_a.f(customer_id)) WHERE (status = 'open'::text)`,
		`CREATE INDEX orders_f_idx ON t_a.orders `, "t_a")
	if want := `USING btree (f(customer_id)) WHERE (status = 'open'::text)`; got != want {
		t.Errorf("normalized %q, want %q", got, want)
	}
	if got := normalizeDefinition(`CREATE UNIQUE INDEX k ON t_b.orders USING btree (id)`, `CREATE UNIQUE INDEX k ON t_b.orders `, "t_b"); got != "UNIQUE USING btree (id)" {
		t.Errorf("normalized %q", got)
	}
}
