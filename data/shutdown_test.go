package data_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

// Every way of consuming a dataset reports ErrShutdown once the runtime is
// stopped, instead of an empty result (Count used to return 0, nil and
// Schema nil, nil, because the executor dropped the error of its wait).
func TestConsumersAfterShutdownReturnErrShutdown(t *testing.T) {
	type row struct{ A float64 }
	items, err := data.FromItems([]row{{1}, {2}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(path, []byte("a,b\n1,2\n3,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csv, err := data.ReadCSV(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	mapped := csv.MapBatches(func(_ context.Context, b arrow.Record) (arrow.Record, error) { b.Retain(); return b, nil })

	core.Shutdown()
	t.Cleanup(func() {
		if err := core.Init(initOpts...); err != nil {
			t.Fatal(err)
		}
	})
	ctx := t.Context()
	for name, ds := range map[string]*data.Dataset{"FromItems": items, "ReadCSV": csv, "MapBatches": mapped} {
		if n, err := ds.Count(ctx); !errors.Is(err, core.ErrShutdown) {
			t.Errorf("%s: Count = %d, %v; want ErrShutdown", name, n, err)
		}
		if s, err := ds.Schema(ctx); !errors.Is(err, core.ErrShutdown) {
			t.Errorf("%s: Schema = %v, %v; want ErrShutdown", name, s, err)
		}
		if rows, err := ds.TakeAll(ctx); !errors.Is(err, core.ErrShutdown) {
			t.Errorf("%s: TakeAll = %v, %v; want ErrShutdown", name, rows, err)
		}
		if _, err := ds.Materialize(ctx); !errors.Is(err, core.ErrShutdown) {
			t.Errorf("%s: Materialize: %v; want ErrShutdown", name, err)
		}
		var iterErr error
		for _, err := range ds.IterBatches(ctx) {
			if err != nil {
				iterErr = err
			}
		}
		if !errors.Is(iterErr, core.ErrShutdown) {
			t.Errorf("%s: IterBatches ended with %v; want ErrShutdown", name, iterErr)
		}
	}
}
