package tune

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Console output levels of RunConfig.Verbose.
const (
	VerboseQuiet  = 0 // nothing
	VerboseTable  = 1 // a status table, redrawn at most once a second
	VerboseDetail = 2 // the table plus a line per result and status change
)

// maxTableRows bounds the table; running and failed trials come first.
const maxTableRows = 20

// progress is the console reporter. The controller goroutine calls it.
type progress struct {
	w      io.Writer
	level  int
	metric string
	last   time.Time
}

func newProgress(w io.Writer, level int, metric string) *progress {
	if w == nil {
		w = os.Stdout
	}
	return &progress{w: w, level: level, metric: metric}
}

// maybeRender redraws the table if a second has passed since the last one.
func (p *progress) maybeRender(now time.Time, c *controller) {
	if p.level < VerboseTable || now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	p.render(c, now)
}

func (p *progress) final(c *controller) {
	if p.level >= VerboseTable {
		p.render(c, time.Now())
	}
}

func (p *progress) onStatus(t *Trial, prev Status) {
	if p.level < VerboseDetail || prev == t.status {
		return
	}
	msg := fmt.Sprintf("Trial %s %s -> %s", t.id, prev, t.status)
	if t.status == StatusError && t.err != nil {
		msg += ": " + t.err.Error()
	}
	fmt.Fprintln(p.w, msg)
}

func (p *progress) onResult(t *Trial, m map[string]float64, d Decision) {
	if p.level < VerboseDetail {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Trial %s iter %d", t.id, int(m["training_iteration"]))
	for _, k := range sortedKeys(m) {
		if autoMetric(k) {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", k, fmtFloat(m[k]))
	}
	if d != Continue {
		fmt.Fprintf(&b, " -> %s", d)
	}
	fmt.Fprintln(p.w, b.String())
}

func autoMetric(k string) bool {
	switch k {
	case "training_iteration", "time_this_iter_s", "time_total_s", "timestamp", "iterations_since_restore":
		return true
	}
	return false
}

func fmtFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 5, 64)
}

// render writes the status table.
func (p *progress) render(c *controller, now time.Time) {
	counts := map[Status]int{}
	cfgKeys := map[string]bool{}
	for _, t := range c.trials {
		counts[t.status]++
		for k := range t.config.Flatten() {
			cfgKeys[k] = true
		}
	}
	var parts []string
	for _, s := range []Status{StatusRunning, StatusPending, StatusPaused, StatusTerminated, StatusError} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(p.w, "== Tune status: %s | %d trials: %s | %s ==\n",
		now.Sub(c.started).Round(100*time.Millisecond), len(c.trials), strings.Join(parts, ", "), c.expDir)
	if best := p.best(c); best != "" {
		fmt.Fprintln(p.w, best)
	}
	keys := sortedSet(cfgKeys)
	if len(keys) > 6 {
		keys = keys[:6]
	}
	rows := make([]*Trial, len(c.trials))
	copy(rows, c.trials)
	rank := map[Status]int{StatusRunning: 0, StatusError: 1, StatusPaused: 2, StatusPending: 3, StatusTerminated: 4}
	sort.SliceStable(rows, func(i, j int) bool { return rank[rows[i].status] < rank[rows[j].status] })
	more := 0
	if len(rows) > maxTableRows {
		more = len(rows) - maxTableRows
		rows = rows[:maxTableRows]
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].index < rows[j].index })
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	hdr := append([]string{"Trial", "Status"}, keys...)
	hdr = append(hdr, "iter")
	if p.metric != "" {
		hdr = append(hdr, p.metric)
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, t := range rows {
		flat := t.config.Flatten()
		cols := []string{t.id, string(t.status)}
		for _, k := range keys {
			if v, ok := flat[k]; ok {
				if f, isF := v.(float64); isF {
					cols = append(cols, fmtFloat(f))
				} else {
					cols = append(cols, fmt.Sprint(v))
				}
			} else {
				cols = append(cols, "")
			}
		}
		iter, met := "", ""
		if t.last != nil {
			iter = strconv.Itoa(int(t.last["training_iteration"]))
			if v, ok := t.last[p.metric]; ok && p.metric != "" {
				met = fmtFloat(v)
			}
		}
		cols = append(cols, iter)
		if p.metric != "" {
			cols = append(cols, met)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
	if more > 0 {
		fmt.Fprintf(p.w, "... %d more trials not shown\n", more)
	}
}

func (p *progress) best(c *controller) string {
	if c.metric == "" {
		return ""
	}
	sign := 1.0
	if c.mode == "min" {
		sign = -1
	}
	var best *Trial
	for _, t := range c.trials {
		v, ok := t.last[c.metric]
		if !ok || math.IsNaN(v) {
			continue
		}
		if best == nil || sign*v > sign*best.last[c.metric] {
			best = t
		}
	}
	if best == nil {
		return ""
	}
	return fmt.Sprintf("Current best trial: %s with %s=%s", best.id, c.metric, fmtFloat(best.last[c.metric]))
}
