package nn

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/goray/goray/train"
)

// synthBatch makes a learnable classification set: the class decides which
// quarter of the input carries a bright blob.
func synthBatch(spec Spec, n int, seed uint64) Batch {
	rng := rand.New(rand.NewPCG(seed, 3))
	in, k := spec.InputSize(), spec.OutputSize()
	b := Batch{X: make([]float32, n*in), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		y := rng.IntN(k)
		b.Labels[i] = int32(y)
		row := b.X[i*in : (i+1)*in]
		for j := range row {
			row[j] = float32(0.3 * rng.NormFloat64())
			if j*k/in == y {
				row[j] += 1
			}
		}
	}
	return b
}

func (b Batch) slice(spec Spec, lo, hi int) Batch {
	in := spec.InputSize()
	return Batch{X: b.X[lo*in : hi*in], Labels: b.Labels[lo:hi], Offset: b.Offset + int64(lo)}
}

func smallCNN() Spec {
	return Sequential([]int{3, 8, 8},
		Conv2D(3, 4, 3, 1, 1), ReLU(), MaxPool2D(2),
		Conv2D(4, 8, 3, 1, 1), ReLU(), Flatten(), Dropout(0.25), Dense(128, 16), ReLU(), Dense(16, 4))
}

// train runs steps on `workers` goroutine workers, each with its shard of every
// global batch, and returns worker 0's model (checking all workers agree).
func trainWorkers(t *testing.T, spec Spec, opt OptimizerConfig, workers, replicas, steps, batch int) *Model {
	t.Helper()
	ctx := t.Context()
	group := train.NewLocalGroup(workers)
	models := make([]*Model, workers)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		m, err := NewModel(spec, 42)
		if err != nil {
			t.Fatal(err)
		}
		models[w] = m
		l, err := NewLearner(m, LearnerConfig{Optimizer: opt, Replicas: replicas, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for s := 0; s < steps; s++ {
				full := synthBatch(spec, batch, uint64(s))
				per := batch / workers
				if _, err := l.Step(ctx, full.slice(spec, w*per, (w+1)*per), group[w]); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	for w := 1; w < workers; w++ {
		if d := maxDiff(models[0].Params, models[w].Params); d != 0 {
			t.Fatalf("worker %d weights differ from worker 0 by %g", w, d)
		}
	}
	return models[0]
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func TestOneAndTwoWorkersReachSameWeights(t *testing.T) {
	spec := smallCNN()
	for name, opt := range map[string]OptimizerConfig{"sgd": SGD(0.05, 0.9), "adam": Adam(0.01)} {
		t.Run(name, func(t *testing.T) {
			one := trainWorkers(t, spec, opt, 1, 1, 6, 16)
			two := trainWorkers(t, spec, opt, 2, 2, 6, 16)
			start, _ := NewModel(spec, 42)
			moved := maxDiff(start.Params, one.Params)
			d := maxDiff(one.Params, two.Params)
			t.Logf("weights moved %.3g from init; 1 vs 2 workers differ by %.3g", moved, d)
			if d > 1e-4*moved {
				t.Fatalf("1 worker and 2 workers differ by %g (weights moved %g)", d, moved)
			}
		})
	}
}

func TestLearnerLearns(t *testing.T) {
	spec := smallCNN()
	m, _ := NewModel(spec, 1)
	l, err := NewLearner(m, LearnerConfig{Optimizer: Adam(0.01)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for s := 0; s < 30; s++ {
		if _, err := l.Step(ctx, synthBatch(spec, 32, uint64(s)), train.Solo()); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := l.Evaluate(ctx, synthBatch(spec, 100, 999))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 30 steps: eval loss %.3f accuracy %.2f", ev.Loss, ev.Accuracy)
	if ev.Accuracy < 0.8 {
		t.Fatalf("accuracy %.2f after training, want >= 0.8", ev.Accuracy)
	}
}

func TestBatchNormRunningStats(t *testing.T) {
	spec := Sequential([]int{4}, Dense(4, 8), BatchNorm(8), ReLU(), Dense(8, 3))
	m, _ := NewModel(spec, 1)
	l, _ := NewLearner(m, LearnerConfig{Optimizer: SGD(0.1, 0.9)})
	for s := 0; s < 50; s++ {
		if _, err := l.Step(t.Context(), synthBatch(spec, 32, uint64(s)), train.Solo()); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := l.Evaluate(t.Context(), synthBatch(spec, 200, 999))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy < 0.8 {
		t.Fatalf("inference-mode accuracy %.2f with running statistics, want >= 0.8", ev.Accuracy)
	}
}

func TestBadBatch(t *testing.T) {
	spec := Sequential([]int{4}, Dense(4, 3))
	m, _ := NewModel(spec, 1)
	l, _ := NewLearner(m, LearnerConfig{Optimizer: SGD(0.1, 0)})
	for name, b := range map[string]Batch{
		"ragged x":  {X: make([]float32, 7), Labels: []int32{0, 1}},
		"labels":    {X: make([]float32, 8), Labels: []int32{0}},
		"bad label": {X: make([]float32, 8), Labels: []int32{0, 3}},
	} {
		if _, err := l.Step(t.Context(), b, train.Solo()); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
