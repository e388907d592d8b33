package cost

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// planNode is the part of an EXPLAIN (FORMAT JSON, VERBOSE) node the agent
// reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	Schema       string     `json:"Schema"`
	Alias        string     `json:"Alias"`
	Filter       string     `json:"Filter"`
	SortKey      []string   `json:"Sort Key"`
	HashCond     string     `json:"Hash Cond"`
	MergeCond    string     `json:"Merge Cond"`
	JoinFilter   string     `json:"Join Filter"`
	TotalCost    float64    `json:"Total Cost"`
	Plans        []planNode `json:"Plans"`
}

// parsePlan decodes EXPLAIN (FORMAT JSON) output.
func parsePlan(raw []byte) (planNode, error) {
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		return planNode{}, fmt.Errorf("cost: unexpected EXPLAIN output (%d plans): %w", len(out), err)
	}
	return out[0].Plan, nil
}

// scanColumns are the columns a sequential scan of one table filters and
// sorts on: what an index on it could serve.
type scanColumns struct {
	Schema, Table string
	alias         string
	// Eq are columns compared for equality (in the scan's filter, then in
	// the conditions of joins above it: alias.col = other.col), Range for
	// order (<, >, ...), Sort the columns a Sort above the scan orders by;
	// each in plan order, without repeats.
	Eq, Range, Sort []string
}

// ident is an SQL identifier as EXPLAIN prints it.
const ident = `(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")`

// comparison matches "alias.column op" (optionally parenthesised and cast)
// in a plan's Filter, where op is a btree-able comparison.
var comparison = regexp.MustCompile(`\(*(?:(` + ident + `)\.)?(` + ident + `)\)?(?:::[a-z ]+(?:\[\])?)?\s*(=|<=|>=|<|>)\s`)

// joinEquality matches "alias.column = alias.column" in a join's
// condition (Hash Cond, Merge Cond, Join Filter).
var joinEquality = regexp.MustCompile(`\(*(` + ident + `)\.(` + ident + `)\)?(?:::[a-z ]+)?\s*=\s*\(*(` + ident + `)\.(` + ident + `)\)?`)

// sortKey matches "alias.column [DESC]" in a Sort Key.
var sortKey = regexp.MustCompile(`^(?:(` + ident + `)\.)?(` + ident + `)(?:\s+(?:ASC|DESC))?(?:\s+NULLS\s+(?:FIRST|LAST))?$`)

func unquote(id string) string {
	if strings.HasPrefix(id, `"`) {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
	}
	return id
}

// seqScans returns every sequential scan of the plan with the columns its
// filter compares and the columns sorts above it order by.
func seqScans(root planNode) []scanColumns {
	var scans []*scanColumns
	type sortCol struct{ qual, col string }
	var sorts, joins []sortCol
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.NodeType {
		case "Seq Scan":
			sc := &scanColumns{Schema: n.Schema, Table: n.RelationName, alias: n.Alias}
			for _, m := range comparison.FindAllStringSubmatch(n.Filter, -1) {
				qual, col, op := unquote(m[1]), unquote(m[2]), m[3]
				if strings.HasPrefix(m[2], "$") || (qual != "" && qual != n.Alias) {
					continue
				}
				if op == "=" {
					sc.Eq = appendNew(sc.Eq, col)
				} else {
					sc.Range = appendNew(sc.Range, col)
				}
			}
			scans = append(scans, sc)
		case "Hash Join", "Merge Join", "Nested Loop":
			for _, cond := range []string{n.HashCond, n.MergeCond, n.JoinFilter} {
				for _, m := range joinEquality.FindAllStringSubmatch(cond, -1) {
					joins = append(joins, sortCol{unquote(m[1]), unquote(m[2])}, sortCol{unquote(m[3]), unquote(m[4])})
				}
			}
		case "Sort", "Incremental Sort":
			for _, k := range n.SortKey {
				if m := sortKey.FindStringSubmatch(k); m != nil {
					sorts = append(sorts, sortCol{unquote(m[1]), unquote(m[2])})
				}
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(root)
	out := make([]scanColumns, 0, len(scans))
	for _, sc := range scans {
		for _, j := range joins {
			if j.qual == sc.alias {
				sc.Eq = appendNew(sc.Eq, j.col)
			}
		}
		for _, s := range sorts {
			if s.qual == sc.alias || (s.qual == "" && len(scans) == 1) {
				sc.Sort = appendNew(sc.Sort, s.col)
			}
		}
		out = append(out, *sc)
	}
	return out
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// candidates are the btree indexes worth trying for a scan: each column
// alone (equality first), then each equality column followed by another
// column it filters or sorts on.
func (sc scanColumns) candidates() (singles, pairs [][]string) {
	var all []string
	for _, c := range slices.Concat(sc.Eq, sc.Range, sc.Sort) {
		all = appendNew(all, c)
	}
	for _, c := range all {
		singles = append(singles, []string{c})
	}
	for _, first := range sc.Eq {
		for _, second := range all {
			if second != first {
				pairs = append(pairs, []string{first, second})
			}
		}
	}
	return singles, pairs
}
