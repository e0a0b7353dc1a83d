package nn

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gorgonia.org/tensor"
)

// maxChunk is the largest batch one inference graph takes; larger batches run
// in chunks.
const maxChunk = 64

// inferencer runs a model forward at any batch size. Gorgonia graphs have
// fixed shapes, so it keeps inference graphs for sizes 1, 2, 4, ... maxChunk
// per core, all holding copies of the same weights: a batch is split across
// cores, each share runs in chunks of maxChunk and the last chunk is padded
// up to the next power of two.
type inferencer struct {
	model   *Model
	cores   int
	version func() int64 // weights version; graphs reload when it changes

	mu     sync.Mutex
	graphs []map[int]*inferGraph
}

type inferGraph struct {
	r      *replica
	loaded int64
}

func newInferencer(m *Model, cores int, version func() int64) *inferencer {
	f := &inferencer{model: m, cores: max(cores, 1), version: version}
	f.graphs = make([]map[int]*inferGraph, f.cores)
	for i := range f.graphs {
		f.graphs[i] = map[int]*inferGraph{}
	}
	return f
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// forward returns the n×OutputSize scores for x (n×InputSize).
func (f *inferencer) forward(ctx context.Context, x []float32, n int) ([]float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, out := f.model.spec.InputSize(), f.model.spec.OutputSize()
	if len(x) != n*in {
		return nil, fmt.Errorf("%w: %d examples need %d values, got %d", ErrInvalidBatch, n, n*in, len(x))
	}
	scores := make([]float32, n*out)
	parts := min(f.cores, n)
	var wg sync.WaitGroup
	errs := make([]error, parts)
	lo := 0
	for p := 0; p < parts; p++ {
		cnt := n / parts
		if p < n%parts {
			cnt++
		}
		wg.Add(1)
		go func(p, lo, cnt int) {
			defer wg.Done()
			for done := 0; done < cnt && errs[p] == nil; {
				if err := ctx.Err(); err != nil {
					errs[p] = err
					return
				}
				k := min(maxChunk, cnt-done)
				errs[p] = f.chunk(p, x[(lo+done)*in:(lo+done+k)*in], scores[(lo+done)*out:(lo+done+k)*out], k)
				done += k
			}
		}(p, lo, cnt)
		lo += cnt
	}
	wg.Wait()
	return scores, errors.Join(errs...)
}

func (f *inferencer) chunk(core int, x, scores []float32, k int) error {
	size := nextPow2(k)
	ig := f.graphs[core][size]
	if ig == nil {
		r, err := newReplica(f.model.spec, size, tensor.Float32, false)
		if err != nil {
			return err
		}
		ig = &inferGraph{r: r, loaded: -1}
		f.graphs[core][size] = ig
	}
	if v := f.version(); ig.loaded != v {
		ig.r.load(f.model)
		ig.loaded = v
	}
	xd := ig.r.x.Value().Data().([]float32)
	copy(xd, x)
	clear(xd[len(x):])
	if err := ig.r.run(); err != nil {
		return err
	}
	copy(scores, ig.r.outputs().([]float32))
	return nil
}
