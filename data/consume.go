package data

import (
	"context"
	"fmt"
	"io"
	"iter"
	"math/rand"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data/internal/block"
)

// Count returns the number of rows.
func (ds *Dataset) Count(ctx context.Context) (int64, error) {
	var n int64
	_, err := ds.runMeta(ctx, func(r blockRef) bool { n += r.Rows; return true })
	return n, err
}

// runMeta executes ds without fetching blocks.
func (ds *Dataset) runMeta(ctx context.Context, yield func(blockRef) bool) (*Stats, error) {
	dc := ds.dc.fill()
	ex := newExecution(ctx, dc)
	start := time.Now()
	out := ex.stream(ex.ctx, ds.node)
	for {
		it, ok, err := recv(ctx, out, ex.release)
		if err != nil {
			ex.stageFail(ctx, err) // e.g. the runtime shut down
			break
		}
		if !ok {
			break
		}
		cont := yield(it.b)
		ex.release(it)
		if !cont {
			break
		}
	}
	ex.cancel()
	for it := range out {
		ex.release(it)
	}
	ex.wg.Wait()
	st := ex.stats.snapshot(time.Since(start), ex.budget)
	ds.stats.set(st)
	if err := ex.firstErr(); err != nil {
		return st, err
	}
	return st, ctx.Err()
}

// Schema returns the schema of the first block (nil for a dataset with no
// blocks).
func (ds *Dataset) Schema(ctx context.Context) (*arrow.Schema, error) {
	var s *arrow.Schema
	_, err := ds.run(ctx, func(b *Block) bool { s = b.Rec.Schema(); return false })
	return s, err
}

// Columns returns the column names.
func (ds *Dataset) Columns(ctx context.Context) ([]string, error) {
	s, err := ds.Schema(ctx)
	if err != nil || s == nil {
		return nil, err
	}
	return block.Names(s), nil
}

// Take returns the first n rows.
func (ds *Dataset) Take(ctx context.Context, n int) ([]map[string]any, error) {
	var rows []map[string]any
	st, err := ds.Limit(int64(n)).run(ctx, func(b *Block) bool {
		rows = append(rows, recordRows(b.Rec)...)
		return true
	})
	ds.stats.set(st)
	return rows, err
}

// TakeAll returns every row (mind the memory).
func (ds *Dataset) TakeAll(ctx context.Context) ([]map[string]any, error) {
	rows := []map[string]any{}
	_, err := ds.run(ctx, func(b *Block) bool {
		rows = append(rows, recordRows(b.Rec)...)
		return true
	})
	return rows, err
}

// TakeBatch returns the first n rows as one record, which the caller
// releases.
func (ds *Dataset) TakeBatch(ctx context.Context, n int) (arrow.Record, error) {
	var recs []arrow.Record
	var schema *arrow.Schema
	st, err := ds.Limit(int64(n)).run(ctx, func(b *Block) bool {
		schema = b.Rec.Schema()
		b.Rec.Retain()
		recs = append(recs, b.Rec)
		return true
	})
	defer releaseRecs(recs)
	ds.stats.set(st)
	if err != nil {
		return nil, err
	}
	if schema == nil {
		return nil, invalid("TakeBatch: dataset has no blocks")
	}
	return block.Concat(ds.dc.fill().Allocator, schema, recs)
}

// Show prints the first n rows to stdout.
func (ds *Dataset) Show(ctx context.Context, n int) error { return ds.ShowTo(ctx, os.Stdout, n) }

// ShowTo prints the first n rows to w, one per line.
func (ds *Dataset) ShowTo(ctx context.Context, w io.Writer, n int) error {
	rec, err := ds.TakeBatch(ctx, n)
	if err != nil {
		return err
	}
	defer rec.Release()
	names := block.Names(rec.Schema())
	for i := 0; i < int(rec.NumRows()); i++ {
		parts := make([]string, len(names))
		for c, name := range names {
			parts[c] = fmt.Sprintf("%s: %v", name, block.Value(rec.Column(c), i))
		}
		if _, err := fmt.Fprintf(w, "{%s}\n", strings.Join(parts, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// IterBatches streams the dataset as record batches of BatchSize rows (256
// by default; BatchSize(0) yields whole blocks), the executor running ahead
// within the memory budget and Prefetch(n) blocks fetched ahead. The yielded
// record is valid until the next iteration; Retain it to keep it. On error
// the sequence yields (nil, err) once and stops.
func (ds *Dataset) IterBatches(ctx context.Context, opts ...IterOption) iter.Seq2[arrow.Record, error] {
	cfg := iterConfig{batchSize: 256, prefetch: 1}
	for _, o := range opts {
		o.applyIter(&cfg)
	}
	return func(yield func(arrow.Record, error) bool) {
		dc := ds.dc.fill()
		mem := dc.Allocator
		var buf []arrow.Record // pending slices, owned
		var bufRows int64
		var rng *rand.Rand
		if cfg.localShuffleSeed != nil {
			rng = rand.New(rand.NewSource(*cfg.localShuffleSeed))
		}
		stopped := false
		emit := func(rec arrow.Record) bool {
			cont := yield(rec, nil)
			rec.Release()
			if !cont {
				stopped = true
			}
			return cont
		}
		// flush emits full batches from buf (all of it when final).
		flush := func(final bool) bool {
			bs := int64(cfg.batchSize)
			for bufRows > 0 && (final || bufRows >= bs || bs <= 0) {
				take := bufRows
				if bs > 0 && take > bs {
					take = bs
				}
				if final && bs > 0 && take < bs && cfg.dropLast {
					releaseRecs(buf)
					buf, bufRows = nil, 0
					return true
				}
				var parts []arrow.Record
				var got int64
				for got < take {
					r := buf[0]
					need := take - got
					if r.NumRows() <= need {
						parts = append(parts, r)
						got += r.NumRows()
						buf = buf[1:]
					} else {
						parts = append(parts, r.NewSlice(0, need))
						buf[0] = r.NewSlice(need, r.NumRows())
						r.Release()
						got += need
					}
				}
				bufRows -= take
				batch, err := block.Concat(mem, parts[0].Schema(), parts)
				releaseRecs(parts)
				if err != nil {
					yield(nil, err)
					stopped = true
					return false
				}
				if rng != nil {
					perm := rng.Perm(int(batch.NumRows()))
					sh, err := block.Take(mem, batch, perm)
					batch.Release()
					if err != nil {
						yield(nil, err)
						stopped = true
						return false
					}
					batch = sh
				}
				if !emit(batch) {
					return false
				}
			}
			return true
		}
		blocks := ds.blockSeq(ctx, cfg.prefetch)
		for b, err := range blocks {
			if err != nil {
				releaseRecs(buf)
				yield(nil, err)
				return
			}
			if b.Rec.NumRows() == 0 {
				continue
			}
			b.Rec.Retain()
			buf = append(buf, b.Rec)
			bufRows += b.Rec.NumRows()
			if !flush(false) {
				releaseRecs(buf)
				return
			}
		}
		if !stopped {
			flush(true)
		}
		releaseRecs(buf)
	}
}

// blockSeq yields blocks, with up to prefetch blocks fetched ahead by a
// goroutine.
func (ds *Dataset) blockSeq(ctx context.Context, prefetch int) iter.Seq2[*Block, error] {
	return func(yield func(*Block, error) bool) {
		if prefetch <= 0 {
			stopped := false
			_, err := ds.run(ctx, func(b *Block) bool {
				if !yield(b, nil) {
					stopped = true
					return false
				}
				return true
			})
			if err != nil && !stopped {
				yield(nil, err)
			}
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		ch := make(chan *Block, prefetch)
		errCh := make(chan error, 1)
		go func() {
			defer close(ch)
			_, err := ds.run(ctx, func(b *Block) bool {
				select {
				case ch <- b:
					return true
				case <-ctx.Done():
					return false
				}
			})
			errCh <- err
		}()
		defer func() {
			cancel()
			for range ch {
			}
		}()
		for b := range ch {
			if !yield(b, nil) {
				return
			}
		}
		if err := <-errCh; err != nil {
			yield(nil, err)
		}
	}
}

// IterRows streams rows.
func (ds *Dataset) IterRows(ctx context.Context) iter.Seq2[map[string]any, error] {
	return func(yield func(map[string]any, error) bool) {
		for b, err := range ds.blockSeq(ctx, 1) {
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range recordRows(b.Rec) {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// Materialize executes the dataset and returns one backed by the resulting
// blocks in the object store (spilled to disk if they do not fit), so later
// consumers do not run the plan again.
func (ds *Dataset) Materialize(ctx context.Context) (*Dataset, error) {
	refs, st, err := ds.collect(ctx)
	if err != nil {
		return nil, err
	}
	m := fromRefs("Materialized", refs, ds.dc)
	m.stats.set(st)
	return m, nil
}

func fromRefs(name string, refs []blockRef, dc *Context) *Dataset {
	return newDataset(&node{kind: kindRefs, name: name, refs: func(ctx context.Context) ([]blockRef, error) {
		return refs, nil
	}}, dc)
}

var fnTask = core.Func1("goray.data.fnTask", func(ctx context.Context, f func(context.Context) (any, error)) (any, error) {
	return wrapData(f(ctx))
}, core.NumCPUs(1), core.LocalOnly())

// runTasks runs fns as core tasks and returns their results in order.
func runTasks[T any](ctx context.Context, fns []func(context.Context) (T, error)) ([]T, error) {
	refs := make([]core.Ref[any], len(fns))
	for i, f := range fns {
		refs[i] = fnTask.Remote(ctx, func(ctx context.Context) (any, error) { return f(ctx) })
	}
	out := make([]T, len(fns))
	var firstErr error
	for i, r := range refs {
		v, err := core.Get(ctx, r)
		if err != nil && firstErr == nil {
			firstErr = err
			for _, rest := range refs[i+1:] {
				_ = core.Cancel(rest)
			}
		}
		if err == nil && v != nil {
			out[i] = v.(T)
		}
	}
	if firstErr != nil {
		return nil, unwrapTask(firstErr)
	}
	return out, nil
}

// MapBlocks runs fn once per block of ds as core tasks (using every core)
// and returns the results in block order. It is meant for distributed
// fitting: per-block partial statistics merged by the caller. fn must not
// release the block.
func MapBlocks[T any](ctx context.Context, ds *Dataset, fn func(ctx context.Context, block arrow.Record) (T, error)) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refs []core.Ref[any]
	_, err := ds.run(ctx, func(b *Block) bool {
		refs = append(refs, fnTask.Remote(ctx, func(ctx context.Context) (any, error) {
			return fn(ctx, b.Rec)
		}))
		return true
	})
	if err != nil {
		for _, r := range refs {
			_ = core.Cancel(r)
		}
		return nil, err
	}
	out := make([]T, len(refs))
	for i, r := range refs {
		v, err := core.Get(ctx, r)
		if err != nil {
			for _, rest := range refs[i+1:] {
				_ = core.Cancel(rest)
			}
			return nil, fmt.Errorf("MapBlocks: block %d: %w", i, unwrapTask(err))
		}
		if v != nil {
			out[i] = v.(T)
		}
	}
	return out, nil
}

// getRec fetches a block's record from the store.
func getRec(ctx context.Context, r blockRef) (arrow.Record, error) {
	b, err := core.Get(ctx, r.Ref)
	if err != nil {
		return nil, err
	}
	return b.Rec, nil
}
