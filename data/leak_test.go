package data_test

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"go.uber.org/goleak"

	"github.com/goray/goray/data"
)

// TestNoGoroutineLeaks: executions that finish, fail, or are abandoned
// early leave no goroutine of the data layer behind.
func TestNoGoroutineLeaks(t *testing.T) {
	ctx := testCtx(t)
	// Warm the runtime so that its own long-lived goroutines exist already.
	if _, err := data.Range(10).Count(ctx); err != nil {
		t.Fatal(err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ds := data.Range(10000).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		b.Retain()
		return b, nil
	}, data.BatchSize(100))
	if _, err := ds.Sort("id", true).Count(ctx); err != nil {
		t.Fatal(err)
	}
	for range ds.IterBatches(ctx, data.BatchSize(10), data.Prefetch(4)) {
		break // abandon early
	}
	boom := errors.New("boom")
	_, err := ds.MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) { return nil, boom }).Count(ctx)
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	shards, _ := ds.StreamingSplit(2)
	for _, s := range shards {
		if _, err := s.Count(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
