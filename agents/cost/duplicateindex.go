package cost

import (
	"slices"
)

// coveringIndex returns the index of the same table that makes ix
// redundant, if any: a valid btree index whose key columns begin with
// ix's (same columns or expressions, opclasses, collations and
// ordering options, as the catalogs tell), with the same predicate (or
// both none), holding every INCLUDE column of ix. ix must be a candidate
// (never a primary key, unique, constraint or replica identity index) and
// a btree. Of two exact duplicates the one whose name sorts first is kept,
// unless only the other one may be dropped.
func coveringIndex(ix tenantIndex, table []tenantIndex) (tenantIndex, bool) {
	if !ix.candidate() || ix.AM != "btree" {
		return tenantIndex{}, false
	}
	var best tenantIndex
	found := false
	for _, o := range table {
		if o.OID == ix.OID || o.AM != "btree" || !o.Valid || !samePredicate(ix.Predicate, o.Predicate) ||
			o.NKey < ix.NKey || !sameKeyPrefix(ix, o) || !includes(o.Columns, ix.Columns[ix.NKey:]) {
			continue
		}
		if o.NKey == ix.NKey && includes(ix.Columns, o.Columns[o.NKey:]) && o.candidate() && o.Name > ix.Name {
			continue // exact duplicates: o is the one dropped
		}
		// Prefer the covering index that is kept for its own sake (a key
		// or unique one), then the shortest, then by name: the evidence
		// names one.
		if !found || better(o, best) {
			best, found = o, true
		}
	}
	return best, found
}

func better(o, best tenantIndex) bool {
	if o.Protected != best.Protected {
		return o.Protected
	}
	if o.NKey != best.NKey {
		return o.NKey < best.NKey
	}
	return o.Name < best.Name
}

func samePredicate(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// sameKeyPrefix reports whether ix's key columns are the first of o's.
func sameKeyPrefix(ix, o tenantIndex) bool {
	if len(ix.Classes) < ix.NKey || len(o.Classes) < ix.NKey || len(ix.Collations) < ix.NKey || len(o.Collations) < ix.NKey ||
		len(ix.Options) < ix.NKey || len(o.Options) < ix.NKey || len(o.Columns) < ix.NKey {
		return false
	}
	for k := range ix.NKey {
		if ix.Columns[k] != o.Columns[k] || ix.Classes[k] != o.Classes[k] || ix.Collations[k] != o.Collations[k] || ix.Options[k] != o.Options[k] {
			return false
		}
	}
	return true
}

// includes reports whether every column of want is in cols.
func includes(cols, want []string) bool {
	for _, c := range want {
		if !slices.Contains(cols, c) {
			return false
		}
	}
	return true
}
