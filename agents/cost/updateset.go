package cost

import (
	"regexp"
	"strings"
	"unicode"
)

// The SET list of a normalized UPDATE statement, read from its text (what
// pg_stat_statements keeps), for the HOT veto (hotveto.go).

// updateHead matches the start of an UPDATE statement up to its SET list:
// the table (schema-qualified or not) and an optional alias.
var updateHead = regexp.MustCompile(`(?is)^\s*UPDATE\s+(?:ONLY\s+)?(` + anyIdent + `)(?:\s*\.\s*(` + anyIdent + `))?\s*\*?\s+(?:(?:AS\s+)?` + anyIdent + `\s+)??SET\s`)

// anyIdent is an SQL identifier as a client writes it.
const anyIdent = `(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")`

// identName folds an identifier as PostgreSQL does: unquoted to lower
// case, quoted as written.
func identName(id string) string {
	if strings.HasPrefix(id, `"`) {
		return unquote(id)
	}
	return strings.ToLower(id)
}

// updateSets reads the table and the columns an UPDATE statement's SET
// list assigns (col = ..., col[...] = ..., col.field = ..., (a, b) =
// ...); ok is false for anything else.
func updateSets(query string) (table, schema string, cols []string, ok bool) {
	m := updateHead.FindStringSubmatchIndex(query)
	if m == nil {
		return "", "", nil, false
	}
	table = identName(query[m[2]:m[3]])
	if m[4] >= 0 {
		schema, table = table, identName(query[m[4]:m[5]])
	}
	for _, item := range splitTop(query[m[1]:], true) {
		item = strings.TrimSpace(item)
		targets := []string{item}
		if strings.HasPrefix(item, "(") {
			end := strings.IndexByte(item, ')')
			if end < 0 {
				return "", "", nil, false
			}
			targets = splitTop(item[1:end], false)
		}
		for _, t := range targets {
			t = strings.TrimSpace(t)
			if id := identAt(t); id != "" {
				cols = appendNew(cols, identName(id))
			}
		}
	}
	return table, schema, cols, len(cols) > 0
}

// splitTop splits s at its top-level commas (outside parentheses,
// brackets and quotes); clauses also ends it at a top-level FROM, WHERE or
// RETURNING.
func splitTop(s string, clauses bool) []string {
	var out []string
	depth, from := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			i = skipQuoted(s, i, c) - 1
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			out, from = append(out, s[from:i]), i+1
		case clauses && depth == 0 && identStart(c) && (i == 0 || !identPart(s[i-1])):
			id := identAt(s[i:])
			switch strings.ToLower(id) {
			case "from", "where", "returning":
				return append(out, s[from:i])
			}
			i += len(id) - 1
		}
	}
	return append(out, s[from:])
}

func identStart(c byte) bool { return c == '_' || c >= 0x80 || unicode.IsLetter(rune(c)) }
func identPart(c byte) bool  { return identStart(c) || c == '$' || (c >= '0' && c <= '9') }

// identAt returns the identifier s begins with, quoted or not; "" if none.
func identAt(s string) string {
	if s == "" {
		return ""
	}
	if s[0] == '"' {
		return s[:skipQuoted(s, 0, '"')]
	}
	if !identStart(s[0]) {
		return ""
	}
	j := 1
	for j < len(s) && identPart(s[j]) {
		j++
	}
	return s[:j]
}

// skipQuoted returns the position after the quoted text starting at s[i]
// (a doubled quote stays inside).
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}
