package data

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data/internal/block"
)

// OperatorStats describes one operator of an execution.
type OperatorStats struct {
	Name     string
	Tasks    int           // task or function invocations
	Blocks   int           // output blocks
	Rows     int64         // output rows
	Bytes    int64         // output bytes
	WallTime time.Duration // time spent in the operator, summed over tasks
}

// Stats describes the last execution of a dataset.
type Stats struct {
	Operators []OperatorStats
	// Total is the wall time of the whole execution.
	Total time.Duration
	// PeakBytesInFlight is the most bytes of blocks that were produced and
	// not yet consumed at any one time; BudgetBytes is the limit.
	PeakBytesInFlight int64
	BudgetBytes       int64
	// Store is the object store's state at the end (spilled bytes, peak).
	Store core.StoreStats
}

func (s *Stats) String() string {
	if s == nil {
		return "no execution yet"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %8s %8s %12s %12s %12s\n", "operator", "tasks", "blocks", "rows", "bytes", "wall")
	for _, o := range s.Operators {
		fmt.Fprintf(&b, "%-40s %8d %8d %12d %12d %12s\n", o.Name, o.Tasks, o.Blocks, o.Rows, o.Bytes, o.WallTime.Round(time.Microsecond))
	}
	fmt.Fprintf(&b, "total %s; peak in flight %d of %d bytes; store spilled %d bytes\n",
		s.Total.Round(time.Microsecond), s.PeakBytesInFlight, s.BudgetBytes, s.Store.SpilledBytes)
	return b.String()
}

type opStats struct {
	mu sync.Mutex
	OperatorStats
}

func (o *opStats) add(d time.Duration, recs []arrow.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Tasks++
	o.WallTime += d
	for _, r := range recs {
		o.Blocks++
		o.Rows += r.NumRows()
		o.Bytes += block.Size(r)
	}
}

// addRun records what the operator did in a task run by name.
func (o *opStats) addRun(r opRun) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Tasks++
	o.WallTime += r.Wall
	o.Blocks += r.Blocks
	o.Rows += r.Rows
	o.Bytes += r.Bytes
}

func (o *opStats) record(d time.Duration, refs []blockRef) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Tasks++
	o.WallTime += d
	for _, r := range refs {
		o.Blocks++
		o.Rows += r.Rows
		o.Bytes += r.Size
	}
}

type statsCollector struct {
	mu    sync.Mutex
	ops   map[*node]*opStats
	order []*node
}

func newStatsCollector() *statsCollector {
	return &statsCollector{ops: map[*node]*opStats{}}
}

func (c *statsCollector) op(n *node, name string) *opStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.ops[n]; ok {
		return s
	}
	s := &opStats{}
	s.Name = name
	c.ops[n] = s
	c.order = append(c.order, n)
	return s
}

func (c *statsCollector) snapshot(total time.Duration, b *budget) *Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &Stats{Total: total}
	for _, n := range c.order {
		s := c.ops[n]
		s.mu.Lock()
		st.Operators = append(st.Operators, s.OperatorStats)
		s.mu.Unlock()
	}
	b.mu.Lock()
	st.PeakBytesInFlight, st.BudgetBytes = b.peak, b.limit
	b.mu.Unlock()
	st.Store = core.ObjectStoreStats()
	return st
}

// statsBox holds the stats of a dataset's last execution.
type statsBox struct {
	mu sync.Mutex
	s  *Stats
}

func (b *statsBox) set(s *Stats) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.s = s
	b.mu.Unlock()
}

func (b *statsBox) get() *Stats {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}
