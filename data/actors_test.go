package data_test

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

type shardWorker struct{ ds *data.Dataset }

var shardWorkerClass = core.Actor1("data_test.shardWorker", func(ctx context.Context, ds *data.Dataset) (*shardWorker, error) {
	return &shardWorker{ds: ds}, nil
}, core.LocalOnly())

var shardWorkerCount = core.Method0("data_test.shardWorker.count", func(w *shardWorker, ctx context.Context) (int64, error) {
	var n int64
	for b, err := range w.ds.IterBatches(ctx, data.BatchSize(64)) {
		if err != nil {
			return 0, err
		}
		n += b.NumRows()
	}
	return n, nil
})

// TestWorkersHoldingEveryCPU: training workers are actors that hold every
// CPU for life while they iterate their shards. The data tasks feeding them
// still run, because a consumer blocked waiting for a block lends its CPUs
// back, as core.Get does.
func TestWorkersHoldingEveryCPU(t *testing.T) {
	ctx := testCtx(t)
	cpus := core.ClusterResources()["CPU"]
	n := max(1, int(cpus))
	src := data.Range(20000).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	})
	shards, err := src.StreamingSplit(n)
	if err != nil {
		t.Fatal(err)
	}
	var refs []core.Ref[int64]
	for i := range n {
		h, err := shardWorkerClass.Options(core.NumCPUs(cpus/float64(n))).Remote(ctx, shards[i])
		if err != nil {
			t.Fatal(err)
		}
		defer core.Kill(h)
		refs = append(refs, shardWorkerCount.Remote(ctx, h))
	}
	counts, err := core.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range counts {
		total += c
	}
	if total != 20000 {
		t.Fatalf("workers saw %d rows (%v)", total, counts)
	}
}
