package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// statementTimes is pg_stat_statements of the instance database summed by
// statement text (white space collapsed, the first 120 characters), over
// every role: where the server spends the analysis's time.
type statementTimes map[string]struct {
	calls int64
	ms    float64
}

func readStatementTimes(ctx context.Context, conn *pgx.Conn) (statementTimes, error) {
	rows, err := conn.Query(ctx, `SELECT query, calls, total_exec_time + total_plan_time FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, err
	}
	out := statementTimes{}
	var q string
	var calls int64
	var ms float64
	_, err = pgx.ForEachRow(rows, []any{&q, &calls, &ms}, func() error {
		k := strings.Join(strings.Fields(q), " ")
		if len(k) > 120 {
			k = k[:120]
		}
		v := out[k]
		v.calls += calls
		v.ms += ms
		out[k] = v
		return nil
	})
	return out, err
}

// printTopStatements writes the n statements that took the most server
// time between two readings.
func printTopStatements(w io.Writer, before, after statementTimes, n int) {
	type row struct {
		q     string
		calls int64
		ms    float64
	}
	var rows []row
	total := 0.0
	for q, a := range after {
		b := before[q]
		if d := a.ms - b.ms; d > 0 {
			rows = append(rows, row{q, a.calls - b.calls, d})
			total += d
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ms > rows[j].ms })
	fmt.Fprintf(w, "instance server time during the analysis: %.0f ms in %d statement texts; the top %d:\n", total, len(rows), n)
	for _, r := range rows[:min(n, len(rows))] {
		fmt.Fprintf(w, "  %9.1f ms %7d calls  %s\n", r.ms, r.calls, r.q)
	}
}

// wallSampler samples, every interval, the stack of the goroutine running
// the analysis (the one whose stack holds marker) and counts its innermost
// frame of the project: a wall-clock profile (the CPU profile misses the
// time spent waiting on the servers, which is most of it).
type wallSampler struct {
	marker string
	stop   chan struct{}
	done   chan struct{}
	counts map[string]int
	total  int
}

func startWallSampler(marker string, interval time.Duration) *wallSampler {
	s := &wallSampler{marker: marker, stop: make(chan struct{}), done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(s.done)
		buf := make([]byte, 1<<22)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			n := runtime.Stack(buf, true)
			for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
				if !strings.Contains(g, s.marker) {
					continue
				}
				s.total++
				s.counts[innermostProjectFrames(g)]++
			}
		}
	}()
	return s
}

// innermostProjectFrames is the innermost two frames of the project's
// packages in one goroutine's stack text.
func innermostProjectFrames(g string) string {
	var frames []string
	for line := range strings.SplitSeq(g, "\n") {
		if strings.HasPrefix(line, "github.com/tenantfleet/tenantfleet/") {
			name := strings.TrimPrefix(line, "github.com/tenantfleet/tenantfleet/")
			if i := strings.LastIndex(name, "("); i > 0 {
				name = name[:i]
			}
			frames = append(frames, name)
			if len(frames) == 2 {
				break
			}
		}
	}
	return strings.Join(frames, " < ")
}

// report stops the sampler and writes the top n frames by share of the
// samples.
func (s *wallSampler) report(w io.Writer, n int) {
	close(s.stop)
	<-s.done
	type row struct {
		frame string
		count int
	}
	var rows []row
	for f, c := range s.counts {
		rows = append(rows, row{f, c})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].count > rows[j].count })
	fmt.Fprintf(w, "wall-clock samples of the analysis: %d; the top %d frames:\n", s.total, n)
	for _, r := range rows[:min(n, len(rows))] {
		fmt.Fprintf(w, "  %5.1f%%  %s\n", 100*float64(r.count)/float64(max(s.total, 1)), r.frame)
	}
}
