package nn

import (
	"testing"

	"gorgonia.org/tensor"

	"github.com/goray/goray/train"
)

// CIFARSpec is the example's CNN, used by the benchmarks.
func cifarSpec() Spec {
	return Sequential([]int{3, 32, 32},
		Conv2D(3, 32, 3, 1, 1), ReLU(), MaxPool2D(2),
		Conv2D(32, 64, 3, 1, 1), ReLU(), MaxPool2D(2),
		Flatten(), Dense(4096, 128), ReLU(), Dense(128, 10))
}

func benchReplica(b *testing.B, batch int, train bool) {
	m, err := NewModel(cifarSpec(), 1)
	if err != nil {
		b.Fatal(err)
	}
	r, err := newReplica(m.spec, batch, tensor.Float32, train)
	if err != nil {
		b.Fatal(err)
	}
	r.load(m)
	if train {
		tg := r.target.Value().Data().([]float32)
		for i := 0; i < batch; i++ {
			tg[i*10+i%10] = 1
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkCNNTrainStep32(b *testing.B) { benchReplica(b, 32, true) }
func BenchmarkCNNInfer64(b *testing.B)     { benchReplica(b, 64, false) }

// BenchmarkLearnerStep64 is one training step of the CIFAR CNN on a batch of
// 64 with the default graphs per worker (one per core).
func BenchmarkLearnerStep64(b *testing.B) {
	spec := cifarSpec()
	m, _ := NewModel(spec, 1)
	l, err := NewLearner(m, LearnerConfig{Optimizer: SGD(0.01, 0.9)})
	if err != nil {
		b.Fatal(err)
	}
	batch := synthBatch(spec, 64, 1)
	if _, err := l.Step(b.Context(), batch, train.Solo()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Step(b.Context(), batch, train.Solo()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}
