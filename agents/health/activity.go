package health

import (
	"slices"
	"time"
)

// activitySQL is the sweep's one read of pg_stat_activity: every client
// session of the server (but the sweep's own), with the server's
// max_connections and the database's size on every row (and on the one row
// of a server with no other session). Only pg_catalog objects, qualified.
const activitySQL = `SELECT coalesce(a.pid, 0), coalesce(a.usename::text, ''), coalesce(a.application_name, ''),
	coalesce(a.state, ''), coalesce(a.datname = pg_catalog.current_database(), false),
	coalesce(extract(epoch FROM s.now - a.xact_start), 0)::float8,
	coalesce(extract(epoch FROM s.now - a.state_change), 0)::float8,
	coalesce(extract(epoch FROM s.now - a.query_start), 0)::float8,
	CASE WHEN a.wait_event_type = 'Lock' THEN pg_catalog.pg_blocking_pids(a.pid) ELSE '{}'::int[] END,
	s.max_conn, s.db_size
FROM (SELECT pg_catalog.current_setting('max_connections')::int AS max_conn,
		pg_catalog.pg_database_size(pg_catalog.current_database()) AS db_size,
		pg_catalog.now() AS now) s
LEFT JOIN pg_catalog.pg_stat_activity a
	ON a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()`

// session is one row of activitySQL.
type session struct {
	pid                  int
	user, appName, state string
	here                 bool // on the instance's database
	xactAge, stateAge    float64
	queryAge             float64
	blockedBy            []int32
	tenant               string // attributed tenant, "" when none
}

// idleInTx reports a session sitting in a transaction without running
// anything (also after an error in it).
func (s session) idleInTx() bool {
	return s.state == "idle in transaction" || s.state == "idle in transaction (aborted)"
}

// activity is what activitySQL found.
type activity struct {
	sessions       []session
	maxConnections int
	databaseBytes  int64
}

// Chain is one blocking chain: sessions waiting, directly or through
// others, on a lock held by Root.
type Chain struct {
	// RootPID is the root blocker's pid; RootTenant its tenant ("" when
	// not attributed), RootUser its user and RootState its state.
	RootPID    int    `json:"root_pid"`
	RootTenant string `json:"root_tenant,omitempty"`
	RootUser   string `json:"root_user"`
	RootState  string `json:"root_state"`
	// Waiting counts the sessions waiting on it; WaitingTenants names
	// their tenants.
	Waiting        int      `json:"waiting"`
	WaitingTenants []string `json:"waiting_tenants,omitempty"`
	// LongestWaitSeconds is the longest wait among them (the age of the
	// waiting query).
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
}

// chains groups the sessions waiting on a lock by their root blockers:
// following blocked-by edges from a waiting session until a session that
// waits on nobody. A cycle (a deadlock the server has yet to break) takes
// its smallest pid as root.
func chains(sessions []session) []Chain {
	byPID := make(map[int]*session, len(sessions))
	for i := range sessions {
		byPID[sessions[i].pid] = &sessions[i]
	}
	roots := map[int]*Chain{}
	for i := range sessions {
		s := &sessions[i]
		if len(s.blockedBy) == 0 {
			continue
		}
		for _, root := range rootsOf(s, byPID) {
			c := roots[root]
			if c == nil {
				c = &Chain{RootPID: root}
				if r := byPID[root]; r != nil {
					c.RootTenant, c.RootUser, c.RootState = r.tenant, r.user, r.state
				}
				roots[root] = c
			}
			c.Waiting++
			if s.tenant != "" && !slices.Contains(c.WaitingTenants, s.tenant) {
				c.WaitingTenants = append(c.WaitingTenants, s.tenant)
			}
			c.LongestWaitSeconds = max(c.LongestWaitSeconds, s.queryAge)
		}
	}
	out := make([]Chain, 0, len(roots))
	for _, c := range roots {
		slices.Sort(c.WaitingTenants)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Chain) int {
		if a.Waiting != b.Waiting {
			return b.Waiting - a.Waiting
		}
		return a.RootPID - b.RootPID
	})
	return out
}

// rootsOf walks the blocked-by graph from s to the sessions that block
// without waiting themselves.
func rootsOf(s *session, byPID map[int]*session) []int {
	seen := map[int]bool{s.pid: true}
	queue := slices.Clone(s.blockedBy)
	var roots []int
	minSeen := s.pid
	for len(queue) > 0 {
		pid := int(queue[0])
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		minSeen = min(minSeen, pid)
		b := byPID[pid]
		if b == nil || len(b.blockedBy) == 0 {
			roots = append(roots, pid)
			continue
		}
		queue = append(queue, b.blockedBy...)
	}
	if len(roots) == 0 { // a cycle
		roots = []int{minSeen}
	}
	return roots
}

// secs converts seconds to a duration.
func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
