package data_test

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

// initOpts are the options TestMain starts the runtime with, for tests that
// stop it and start it again.
var initOpts []core.InitOption

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "goray-data-spill")
	if err != nil {
		panic(err)
	}
	// A small object store so that the spill test really spills (but not
	// when benchmarking, where spilling would distort the figures).
	flag.Parse()
	opts := []core.InitOption{core.WithSpillDir(dir)}
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		opts = append(opts, core.WithMemoryBudget(spillBudget))
	}
	initOpts = opts
	if err := core.Init(opts...); err != nil {
		panic(err)
	}
	code := m.Run()
	core.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestStreamingWithinBudget pushes a generated dataset through MapBatches
// -> Filter -> Count: about 32 MiB after MapBatches, twice the object
// store's 16 MiB memory budget and 64x the executor's 512 KiB budget. It
// checks the count, that the executor's budget held and that nothing had to
// spill: the data streamed through.
func TestStreamingWithinBudget(t *testing.T) {
	ctx := testCtx(t)
	dc := data.NewContext()
	dc.MemoryBudget = 512 << 10
	dc.TargetMaxBlockSize = 16 << 10 // Range makes blocks of 2048 int64 rows
	dc.TargetMinBlockSize = 0
	dc.MaxTasksPerOperator = 4
	const n = 240 * 2048
	pad := make([]byte, 64)
	spilledBefore := core.ObjectStoreStats().SpilledBytes
	ds := data.Range(n).WithContext(dc).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		bb := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
		defer bb.Release()
		for range b.NumRows() {
			bb.Append(pad)
		}
		padding := bb.NewArray()
		defer padding.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "pad", Type: arrow.BinaryTypes.Binary}}, nil)
		return array.NewRecord(schema, []arrow.Array{b.Column(0), padding}, b.NumRows()), nil
	}, data.Name("pad")).Filter(func(r data.Row) (bool, error) {
		return r["id"].(int64)%3 == 0, nil
	})
	got, err := ds.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64((n + 2) / 3); got != want {
		t.Fatalf("count %d, want %d", got, want)
	}
	st := ds.Stats()
	var mapped int64
	for _, o := range st.Operators {
		if o.Name == "MapBatches(pad)" {
			mapped = o.Bytes
		}
	}
	if mapped < 2*spillBudget || mapped < 10*dc.MemoryBudget {
		t.Fatalf("only %d bytes went through MapBatches\n%s", mapped, st)
	}
	if st.PeakBytesInFlight > dc.MemoryBudget || st.PeakBytesInFlight == 0 {
		t.Fatalf("peak in flight %d bytes, budget %d\n%s", st.PeakBytesInFlight, dc.MemoryBudget, st)
	}
	if spilled := core.ObjectStoreStats().SpilledBytes - spilledBefore; spilled > 0 && core.ObjectStoreStats().BudgetBytes == spillBudget {
		t.Fatalf("%d bytes spilled: the stream did not stay within memory", spilled)
	}
	t.Logf("\n%s", st)
}

const spillBudget = 16 << 20

func TestMaterializeSpills(t *testing.T) {
	if core.ObjectStoreStats().BudgetBytes > spillBudget {
		t.Skip("object store budget is not the small test one (benchmark run)")
	}
	ctx := testCtx(t)
	dc := data.NewContext()
	dc.TargetMaxBlockSize = 1 << 20
	const n = 3 << 20 // 24 MiB of int64 > the 16 MiB store
	m, err := data.Range(n).WithContext(dc).Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if core.ObjectStoreStats().SpillsTotal == 0 {
		t.Fatalf("nothing spilled: %+v", core.ObjectStoreStats())
	}
	var sum, rows int64
	for b, err := range m.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range b.Column(0).(*array.Int64).Int64Values() {
			sum += v
		}
		rows += b.NumRows()
	}
	if rows != n || sum != int64(n)*(n-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
	if core.ObjectStoreStats().RestoresTotal == 0 {
		t.Fatal("no block was read back from disk")
	}
}

// TestSlowConsumerHoldsBudget: while the consumer sits on its first batch
// the executor runs ahead only as far as the budget allows.
func TestSlowConsumerHoldsBudget(t *testing.T) {
	ctx := testCtx(t)
	dc := data.NewContext()
	dc.MemoryBudget = 256 << 10
	dc.TargetMaxBlockSize = 16 << 10
	dc.TargetMinBlockSize = 0
	ds := data.Range(200 * 2048).WithContext(dc).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	})
	var rows int64
	first := true
	for b, err := range ds.IterBatches(ctx, data.BatchSize(0), data.Prefetch(0)) {
		if err != nil {
			t.Fatal(err)
		}
		if first {
			first = false
			time.Sleep(100 * time.Millisecond) // let the executor run ahead
		}
		rows += b.NumRows()
	}
	if rows != 200*2048 {
		t.Fatalf("rows %d", rows)
	}
	st := ds.Stats()
	if st.PeakBytesInFlight > dc.MemoryBudget {
		t.Fatalf("peak %d over budget %d\n%s", st.PeakBytesInFlight, dc.MemoryBudget, st)
	}
	t.Logf("peak in flight %d of %d bytes", st.PeakBytesInFlight, dc.MemoryBudget)
}
