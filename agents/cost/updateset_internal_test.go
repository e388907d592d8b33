package cost

import (
	"slices"
	"testing"
)

// The SET list of normalized UPDATE statements: the table and the columns
// assigned, whatever the expressions hold.
func TestUpdateSetsReadsTheAssignedColumns(t *testing.T) {
	for _, c := range []struct {
		query, schema, table string
		cols                 []string
	}{
		{`UPDATE orders SET customer_id = $1 WHERE id = $2`, "", "orders", []string{"customer_id"}},
		{`update Orders set Status = $1, note = lower($2) where id = $3`, "", "orders", []string{"status", "note"}},
		{`UPDATE ONLY t_x.orders AS o SET (customer_id, "Note") = ($1, $2), created_at = now() FROM other WHERE o.id = other.id`,
			"t_x", "orders", []string{"customer_id", "Note", "created_at"}},
		{`UPDATE "Weird ""T""" SET a[$1] = $2, b.f = $3 RETURNING id`, "", `Weird "T"`, []string{"a", "b"}},
		{`UPDATE orders o SET status = (SELECT s FROM x WHERE x.id = o.id), note = 'a, where' WHERE id = $1`, "", "orders", []string{"status", "note"}},
		{`UPDATE orders SET note = $1`, "", "orders", []string{"note"}},
	} {
		table, schema, cols, ok := updateSets(c.query)
		if !ok || table != c.table || schema != c.schema || !slices.Equal(cols, c.cols) {
			t.Errorf("updateSets(%q) = %q %q %q %v, want %q %q %q", c.query, table, schema, cols, ok, c.table, c.schema, c.cols)
		}
	}
	for _, q := range []string{`SELECT 1`, `DELETE FROM orders WHERE id = $1`, `INSERT INTO orders (status) VALUES ($1)`, `WITH x AS (SELECT 1) UPDATE orders SET a = $1`} {
		if _, _, _, ok := updateSets(q); ok {
			t.Errorf("updateSets(%q): ok, want not an UPDATE it reads", q)
		}
	}
}
