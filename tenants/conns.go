package tenants

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// appLogin is the login key of the connections of the fleet's application
// role (pooled tenants); a strict tenant's connections are keyed by its role.
const appLogin = ""

// pingIdleAfter is how long a connection may sit idle before it is checked
// with a ping when borrowed (pgxpool's default).
const pingIdleAfter = time.Second

// closeTimeout bounds the goodbye sent to the server when a connection is
// closed.
const closeTimeout = 2 * time.Second

// connBudget holds the physical connections of one pool key (a shared
// instance, or a dedicated tenant's database) for every login that uses it:
// the application role of pooled tenants and the own role of each strict
// tenant. At most size connections are open at once, whoever they log in
// as: that is the one budget of the instance.
//
// It never makes a caller wait: the admission gate in front of it grants at
// most size slots and a connection is put back before its slot is released,
// so a granted caller finds an idle connection of its login, room to dial
// one, or an idle connection of another login to close first. The one
// closed is the least recently used, among those last used by batch work
// first, so batch churn does not close the warm connections of interactive
// tenants. A strict login keeps at most idleCap idle connections.
type connBudget struct {
	pool        string
	size        int
	idleCap     int
	idleTimeout time.Duration

	mu     sync.Mutex
	open   int                 // connections open or being dialled
	idle   map[string][]*bconn // by login, most recently used last
	gen    uint64              // bumped by reset: older connections close when returned
	closed bool
	busy   sync.WaitGroup

	opens     atomic.Uint64
	evictions atomic.Uint64
}

// bconn is one physical connection of a connBudget.
type bconn struct {
	conn     *pgx.Conn
	login    string
	gen      uint64
	released time.Time
	batch    bool // last used by batch work
}

type connBudgetConfig struct {
	pool        string
	size        int
	idleCap     int
	idleTimeout time.Duration
}

func newConnBudget(c connBudgetConfig) *connBudget {
	return &connBudget{pool: c.pool, size: c.size, idleCap: c.idleCap, idleTimeout: c.idleTimeout,
		idle: map[string][]*bconn{}}
}

// errBudgetSpent is returned when no connection can be had within the
// budget, which the admission gate in front makes impossible.
var errBudgetSpent = errors.New("tenants: connection budget spent")

// get returns a connection logged in as login: an idle one of that login
// (pinged first when idle for more than a second), else a new one from
// dial, closing
// the least recently used idle connection of another login first when the
// budget is spent. The caller must put it back.
func (b *connBudget) get(ctx context.Context, login string, dial func(context.Context) (*pgx.Conn, error)) (*bconn, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.busy.Add(1)
	for {
		if c := b.popIdleLocked(login); c != nil {
			b.mu.Unlock()
			if time.Since(c.released) < pingIdleAfter || c.conn.Ping(ctx) == nil {
				return c, nil
			}
			b.discard(c) // broken: dial instead
			b.mu.Lock()
			continue
		}
		var victim *bconn
		if b.open >= b.size {
			if victim = b.evictableLocked(); victim == nil {
				b.mu.Unlock()
				b.busy.Done()
				return nil, fmt.Errorf("%w on pool %s", errBudgetSpent, b.pool)
			}
			b.removeIdleLocked(victim)
			b.open-- // its place in the budget is ours
		}
		b.open++
		gen := b.gen
		b.mu.Unlock()
		if victim != nil {
			b.evictions.Add(1)
			closeConn(victim.conn)
		}
		conn, err := dial(ctx)
		if err != nil {
			b.mu.Lock()
			b.open--
			b.mu.Unlock()
			b.busy.Done()
			return nil, err
		}
		b.opens.Add(1)
		return &bconn{conn: conn, login: login, gen: gen}, nil
	}
}

// put returns c after use by work of the given kind. A connection that is
// closed, left inside a transaction, older than the last reset, beyond its
// login's idle cap, or returned after close is closed.
func (b *connBudget) put(c *bconn, batch bool) {
	defer b.busy.Done()
	reusable := !c.conn.IsClosed() && c.conn.PgConn().TxStatus() == 'I' && !c.conn.PgConn().IsBusy()
	b.mu.Lock()
	if reusable && !b.closed && c.gen == b.gen && (c.login == appLogin || len(b.idle[c.login]) < b.idleCap) {
		c.released, c.batch = time.Now(), batch
		b.idle[c.login] = append(b.idle[c.login], c)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.discard(c)
}

// discard closes c, borrowed or taken from the idle set, and then frees its
// place in the budget.
func (b *connBudget) discard(c *bconn) {
	closeConn(c.conn)
	b.mu.Lock()
	b.open--
	b.mu.Unlock()
}

func (b *connBudget) popIdleLocked(login string) *bconn {
	list := b.idle[login]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	b.idle[login] = list[:len(list)-1]
	return c
}

func (b *connBudget) removeIdleLocked(c *bconn) {
	list := b.idle[c.login]
	if i := slices.Index(list, c); i >= 0 {
		b.idle[c.login] = slices.Delete(list, i, i+1)
	}
}

// evictableLocked returns the idle connection to close when another login
// needs the budget: the least recently used of those last used by batch
// work, else the least recently used of all; nil when none is idle.
func (b *connBudget) evictableLocked() *bconn {
	var best *bconn
	for _, list := range b.idle {
		if len(list) == 0 {
			continue
		}
		c := list[0] // the login's least recently used
		if best == nil || (c.batch && !best.batch) || (c.batch == best.batch && c.released.Before(best.released)) {
			best = c
		}
	}
	return best
}

// closeIdle closes the connections idle since before now - idleTimeout.
func (b *connBudget) closeIdle(now time.Time) {
	b.takeIdle(func(c *bconn) bool { return now.Sub(c.released) >= b.idleTimeout })
}

// reset closes every idle connection and makes borrowed ones close when
// they come back.
func (b *connBudget) reset() {
	b.mu.Lock()
	b.gen++
	b.mu.Unlock()
	b.takeIdle(func(*bconn) bool { return true })
}

// close resets the budget for good and waits for borrowed connections to
// come back (they are closed then).
func (b *connBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.reset()
	b.busy.Wait()
}

// takeIdle closes the idle connections matching drop.
func (b *connBudget) takeIdle(drop func(*bconn) bool) {
	var doomed []*bconn
	b.mu.Lock()
	for login, list := range b.idle {
		kept := list[:0]
		for _, c := range list {
			if drop(c) {
				doomed = append(doomed, c)
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(b.idle, login)
		} else {
			b.idle[login] = kept
		}
	}
	b.mu.Unlock()
	for _, c := range doomed {
		b.discard(c)
	}
}

// warm reports whether login has an idle connection.
func (b *connBudget) warm(login string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.idle[login]) > 0
}

// counts returns how many connections are open and idle.
func (b *connBudget) counts() (open, idle int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, list := range b.idle {
		idle += len(list)
	}
	return b.open, idle
}

// terminateMsg is the protocol's Terminate message.
var terminateMsg = []byte{'X', 0, 0, 0, 4}

// closeConn says goodbye to the server and returns once the server closed
// the socket (or after closeTimeout). A backend closes its socket last,
// after it gave back its slot of max_connections and its pg_stat_activity
// entry, so a connection dialled after closeConn returns never overlaps
// the closed one on the server.
func closeConn(conn *pgx.Conn) {
	if conn.IsClosed() {
		return
	}
	hc, err := conn.PgConn().Hijack()
	if err != nil { // busy: cannot happen to an idle or returned connection
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(ctx)
		return
	}
	nc := hc.Conn
	_ = nc.SetDeadline(time.Now().Add(closeTimeout))
	if _, err := nc.Write(terminateMsg); err == nil {
		_, _ = io.Copy(io.Discard, nc) // until the server's EOF
	}
	_ = nc.Close()
}
