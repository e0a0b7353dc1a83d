package nn

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestWeightFormatGolden pins the documented binary format: a fixed model's
// weights must encode to exactly testdata/weights_v1.bin.
func TestWeightFormatGolden(t *testing.T) {
	m, err := NewModel(Sequential([]int{2}, Dense(2, 2), BatchNorm(2)), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Params {
		m.Params[i] = float64(i) / 4
	}
	got := m.MarshalWeights()
	path := filepath.Join("testdata", "weights_v1.bin")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("weight encoding changed: got %d bytes, golden %d bytes (run with -update only for an intended format change, and bump the version)", len(got), len(want))
	}
	m2, _ := NewModel(m.Spec(), 2)
	if err := m2.UnmarshalWeights(want, path); err != nil {
		t.Fatal(err)
	}
	if maxDiff(m.Params, m2.Params) != 0 || maxDiff(m.State, m2.State) != 0 {
		t.Fatal("round trip changed the weights")
	}
}

func TestWeightFileErrors(t *testing.T) {
	m, _ := NewModel(Sequential([]int{3}, Dense(3, 2)), 1)
	good := m.MarshalWeights()
	other, _ := NewModel(Sequential([]int{3}, Dense(3, 4), Dense(4, 2)), 1)
	flipped := bytes.Clone(good)
	flipped[30] ^= 1
	tests := map[string]struct {
		b    []byte
		want error
	}{
		"truncated":   {good[:len(good)-9], ErrCorruptWeights},
		"bit flip":    {flipped, ErrCorruptWeights},
		"not weights": {[]byte("hello, this is not a weight file"), ErrCorruptWeights},
		"other model": {other.MarshalWeights(), ErrArchitectureMismatch},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := m.UnmarshalWeights(tc.b, "w.bin")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestResumeMatchesUninterrupted(t *testing.T) {
	spec := smallCNN()
	for name, opt := range map[string]OptimizerConfig{"sgd": SGD(0.05, 0.9), "adam": Adam(0.01)} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			sched := StepDecay(opt.LR, 3, 0.5)
			run := func(l *Learner, from, to int) {
				for s := from; s < to; s++ {
					if _, err := l.Step(ctx, synthBatch(spec, 16, uint64(s)), train.Solo()); err != nil {
						t.Fatal(err)
					}
				}
			}
			m, _ := NewModel(spec, 5)
			full, _ := NewLearner(m, LearnerConfig{Optimizer: opt, Schedule: sched, Seed: 3})
			run(full, 0, 8)

			m2, _ := NewModel(spec, 5)
			first, _ := NewLearner(m2, LearnerConfig{Optimizer: opt, Schedule: sched, Seed: 3})
			run(first, 0, 4)
			dir := filepath.Join(t.TempDir(), "ckpt")
			if _, err := first.Save(dir, SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			ck, err := checkpoint.FromDirectory(dir)
			if err != nil {
				t.Fatal(err)
			}
			resumed, err := Resume(ck, &spec, LearnerConfig{Schedule: sched})
			if err != nil {
				t.Fatal(err)
			}
			if resumed.Steps() != 4 {
				t.Fatalf("resumed at step %d, want 4", resumed.Steps())
			}
			run(resumed, 4, 8)
			if d := maxDiff(full.Model().Params, resumed.Model().Params); d != 0 {
				t.Fatalf("resumed run differs from uninterrupted run by %g", d)
			}
		})
	}
}

func TestCheckpointArchitectureMismatch(t *testing.T) {
	m, _ := NewModel(smallCNN(), 1)
	dir := filepath.Join(t.TempDir(), "ckpt")
	if _, err := SaveModel(dir, m, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := Sequential([]int{3, 8, 8}, Conv2D(3, 8, 3, 1, 1), ReLU(), Flatten(), Dense(512, 4))
	_, err = LoadPredictor(ck, &other)
	if !errors.Is(err, ErrArchitectureMismatch) {
		t.Fatalf("got %v, want ErrArchitectureMismatch", err)
	}
	t.Log(err)
	if _, err := Resume(ck, nil, LearnerConfig{}); err == nil {
		t.Fatal("resuming a checkpoint without optimizer state: no error")
	}
	// weights.bin of another architecture under this model.json.
	om, _ := NewModel(other, 1)
	if err := ck.WriteFile(WeightsFile, om.MarshalWeights()); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPredictor(ck); !errors.Is(err, ErrArchitectureMismatch) {
		t.Fatalf("mismatched weights.bin: got %v, want ErrArchitectureMismatch", err)
	}
}

func TestPredictorAnyBatchSize(t *testing.T) {
	spec := smallCNN()
	m, _ := NewModel(spec, 1)
	l, _ := NewLearner(m, LearnerConfig{Optimizer: Adam(0.01)})
	for s := 0; s < 10; s++ {
		if _, err := l.Step(t.Context(), synthBatch(spec, 16, uint64(s)), train.Solo()); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	nm := Normalization{Scale: 2, Mean: []float64{0, 0.5, 0}, Std: []float64{2, 2, 2}} // identity on channel 0 and 2
	if _, err := l.Save(dir, SaveOptions{Classes: []string{"a", "b", "c", "d"}, Normalization: &nm}); err != nil {
		t.Fatal(err)
	}
	ck, _ := checkpoint.FromDirectory(dir)
	p, err := LoadPredictor(ck, &spec)
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	b := synthBatch(spec, n, 77)
	all, err := p.Scores(t.Context(), b.X, n)
	if err != nil {
		t.Fatal(err)
	}
	in, k := spec.InputSize(), spec.OutputSize()
	for _, bs := range []int{1, 3, 64, 65} {
		for lo := 0; lo+bs <= n; lo += 37 {
			got, err := p.Scores(t.Context(), b.X[lo*in:(lo+bs)*in], bs)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range got {
				if math.Abs(float64(v-all[lo*k+i])) > 1e-5 {
					t.Fatalf("batch %d at %d: score %d = %v, whole-batch run gave %v", bs, lo, i, v, all[lo*k+i])
				}
			}
		}
	}

	// The Arrow path: one fixed-size list column "x".
	bld := array.NewFixedSizeListBuilder(memory.DefaultAllocator, int32(in), arrow.PrimitiveTypes.Float32)
	defer bld.Release()
	vb := bld.ValueBuilder().(*array.Float32Builder)
	for i := 0; i < n; i++ {
		bld.Append(true)
		vb.AppendValues(b.X[i*in:(i+1)*in], nil)
	}
	col := bld.NewArray()
	defer col.Release()
	rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "x", Type: col.DataType()}}, nil), []arrow.Array{col}, n)
	defer rec.Release()
	out, err := p.Predict(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	preds := out.Column(0).(*array.Float64)
	probs := out.Column(1).(*array.List)
	correct := 0
	for i := 0; i < n; i++ {
		if int(preds.Value(i)) != argmax(all[i*k:(i+1)*k]) {
			t.Fatalf("row %d: prediction %v disagrees with scores", i, preds.Value(i))
		}
		if int32(preds.Value(i)) == b.Labels[i] {
			correct++
		}
		s, e := probs.ValueOffsets(i)
		var sum float64
		for j := s; j < e; j++ {
			sum += probs.ListValues().(*array.Float64).Value(int(j))
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Fatalf("row %d: probabilities sum to %v", i, sum)
		}
	}
	t.Logf("predictor accuracy %d/%d", correct, n)
}

func FuzzDecodeTensors(f *testing.F) {
	m, _ := NewModel(Sequential([]int{2}, Dense(2, 2)), 1)
	f.Add(m.MarshalWeights())
	f.Add([]byte("GORAYNN\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := DecodeTensors(b, "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := EncodeTensors(&buf, ts, true); err != nil {
			t.Fatalf("decoded tensors do not re-encode: %v", err)
		}
	})
}
