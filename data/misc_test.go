package data_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/data"
)

func TestActorPoolConstructorError(t *testing.T) {
	ctx := testCtx(t)
	boom := errors.New("no model")
	_, err := data.Range(100).MapBatches(nil, data.WithActorPool(func(ctx context.Context) (data.BatchFunc, error) {
		return nil, boom
	}), data.Name("model")).Count(ctx)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelStopsExecution(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	started := make(chan struct{})
	var once sync.Once
	ds := data.Range(100000).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		once.Do(func() { close(started) })
		<-ctx.Done() // a slow operator that honours its context
		return nil, ctx.Err()
	}, data.BatchSize(10))
	go func() {
		<-started
		cancel()
	}()
	_, err := ds.Count(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestBlockSizing(t *testing.T) {
	ctx := testCtx(t)
	var warnings []string
	var mu sync.Mutex
	dc := data.NewContext()
	dc.TargetMaxBlockSize = 64 << 10
	dc.TargetMinBlockSize = 16 << 10
	dc.Warn = func(format string, args ...any) {
		mu.Lock()
		warnings = append(warnings, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// One task output of 800 KiB is split into blocks of at most 64 KiB.
	big := data.Range(100_000).WithContext(dc).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	})
	var sizes []int64
	for b, err := range big.Repartition(1).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	}).WithContext(dc).IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.NumRows()*8)
	}
	if len(sizes) < 12 {
		t.Fatalf("800 KiB became %d blocks", len(sizes))
	}
	for _, s := range sizes {
		if s > dc.TargetMaxBlockSize {
			t.Fatalf("block of %d bytes over target", s)
		}
	}
	// Tiny batches of one task are coalesced.
	var blocks int
	for _, err := range data.Range(1000).WithContext(dc).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	}, data.BatchSize(10)).IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		blocks++
	}
	if blocks > 16 {
		t.Fatalf("tiny outputs not coalesced: %d blocks", blocks)
	}
	// A single row bigger than the target: a warning, not a failure.
	row := strings.Repeat("x", 100<<10)
	ds, err := data.FromItems([]map[string]any{{"s": row}, {"s": "small"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ds.WithContext(dc).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	}).Count(ctx)
	if err != nil || n != 2 {
		t.Fatalf("count %d %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) == 0 || !strings.Contains(warnings[0], "exceeds the target block size") {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestStreamingSplitConcurrentWorkers(t *testing.T) {
	ctx := testCtx(t)
	shards, err := data.Range(5000).StreamingSplit(2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sums := make([]int64, 2)
	errs := make([]error, 2)
	for i, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b, err := range sh.IterBatches(ctx, data.BatchSize(100)) {
				if err != nil {
					errs[i] = err
					return
				}
				for _, v := range b.Column(0).(*array.Int64).Int64Values() {
					sums[i] += v
				}
			}
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if sums[0]+sums[1] != 4999*5000/2 || sums[0] == 0 || sums[1] == 0 {
		t.Fatalf("sums %v", sums)
	}
}

func TestTypedColumnsNulls(t *testing.T) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil))
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{1, 0}, []bool{true, false})
	rec := b.NewRecord()
	b.Release()
	defer rec.Release()
	cols := data.RecordToColumns(rec)
	x := cols["x"].([]float64)
	if x[0] != 1 || x[1] == x[1] {
		t.Fatalf("null float should be NaN: %v", x)
	}
}

func TestIterBatchesDropLastAndLocalShuffle(t *testing.T) {
	ctx := testCtx(t)
	ds := data.Range(1000)
	var n int
	var all []int64
	for b, err := range ds.IterBatches(ctx, data.BatchSize(300), data.DropLast(), data.LocalShuffle(300, 7)) {
		if err != nil {
			t.Fatal(err)
		}
		if b.NumRows() != 300 {
			t.Fatalf("batch of %d rows", b.NumRows())
		}
		n++
		all = append(all, b.Column(0).(*array.Int64).Int64Values()...)
	}
	if n != 3 {
		t.Fatalf("%d batches", n)
	}
	sorted := append([]int64(nil), all...)
	slicesSort(sorted)
	for i, v := range sorted {
		if v != int64(i) {
			t.Fatalf("not a permutation of the first 900 rows")
		}
	}
	same := true
	for i, v := range all {
		same = same && v == int64(i)
	}
	if same {
		t.Fatal("local shuffle did not shuffle")
	}
}

func slicesSort(v []int64) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

func TestStreamingSplitEqual(t *testing.T) {
	ctx := testCtx(t)
	items := make([]map[string]any, 1000)
	for i := range items {
		items[i] = map[string]any{"id": i}
	}
	ds, err := data.FromItems(items) // one block: fewer blocks than shards
	if err != nil {
		t.Fatal(err)
	}
	shards, err := ds.StreamingSplit(3, data.Equal())
	if err != nil {
		t.Fatal(err)
	}
	var counts []int64
	var total int64
	for _, sh := range shards {
		n, err := sh.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
		total += n
	}
	if total != 1000 || counts[0]-counts[2] > 1 || counts[2]-counts[0] > 1 || counts[1] < 333 {
		t.Fatalf("shard rows %v", counts)
	}
}
