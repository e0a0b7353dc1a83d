package nn

import (
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
)

// record turns a Batch into an Arrow record with columns "x"
// (fixed_size_list<float32>) and "label" (int64).
func record(spec Spec, b Batch) arrow.Record {
	in := spec.InputSize()
	n := len(b.Labels)
	xb := array.NewFixedSizeListBuilder(memory.DefaultAllocator, int32(in), arrow.PrimitiveTypes.Float32)
	defer xb.Release()
	vb := xb.ValueBuilder().(*array.Float32Builder)
	lb := array.NewInt64Builder(memory.DefaultAllocator)
	defer lb.Release()
	for i := 0; i < n; i++ {
		xb.Append(true)
		vb.AppendValues(b.X[i*in:(i+1)*in], nil)
		lb.Append(int64(b.Labels[i]))
	}
	x, l := xb.NewArray(), lb.NewArray()
	defer x.Release()
	defer l.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: x.DataType()}, {Name: "label", Type: l.DataType()}}, nil)
	return array.NewRecord(schema, []arrow.Array{x, l}, int64(n))
}

func TestTrainerTwoWorkers(t *testing.T) {
	spec := Sequential([]int{2, 4, 4}, Conv2D(2, 4, 3, 1, 1), ReLU(), MaxPool2D(2), Flatten(), Dense(16, 4))
	// Several records: the streaming split deals blocks to workers.
	var trainRecs, validRecs []arrow.Record
	for i := 0; i < 8; i++ {
		trainRecs = append(trainRecs, record(spec, synthBatch(spec, 32, uint64(i))))
		defer trainRecs[i].Release()
	}
	for i := 0; i < 4; i++ {
		validRecs = append(validRecs, record(spec, synthBatch(spec, 16, uint64(100+i))))
		defer validRecs[i].Release()
	}
	validRec := record(spec, synthBatch(spec, 64, 200))
	defer validRec.Release()
	tr := &Trainer{
		Config: TrainerConfig{
			Spec: spec, Optimizer: Adam(0.02), BatchSize: 32, Epochs: 3, Seed: 1,
			FitNormalizationScale: 1,
		},
		// Half a CPU each leaves room for the data tasks that feed the shards
		// on a 2-CPU machine (with 1 CPU each, both CPUs are held by the
		// workers and the shard reads wait forever).
		ScalingConfig: train.ScalingConfig{NumWorkers: 2, ResourcesPerWorker: map[string]float64{"CPU": 0.5}},
		RunConfig:     train.RunConfig{Name: "nn-test", StoragePath: t.TempDir()},
		Datasets:      map[string]*data.Dataset{"train": data.FromArrow(trainRecs...), "valid": data.FromArrow(validRecs...)},
	}
	res, err := tr.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("metrics: %v", res.Metrics)
	if res.Metrics["epoch"] != 3 || res.Metrics["valid_accuracy"] < 0.8 {
		t.Fatalf("after 3 epochs: %v", res.Metrics)
	}
	p, err := NewPredictor(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Predict(t.Context(), validRec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	preds := out.Column(0).(*array.Float64)
	labels := validRec.Column(1).(*array.Int64)
	correct := 0
	for i := 0; i < preds.Len(); i++ {
		if int64(preds.Value(i)) == labels.Value(i) {
			correct++
		}
	}
	acc := float64(correct) / float64(preds.Len())
	t.Logf("predictor from the result checkpoint: accuracy %.3f on held-out data", acc)
	if acc < 0.8 {
		t.Fatalf("predictor accuracy %v", acc)
	}
}

func TestTrainerResumeAndConfig(t *testing.T) {
	spec := Sequential([]int{2, 4, 4}, Conv2D(2, 4, 3, 1, 1), ReLU(), MaxPool2D(2), Flatten(), Dense(16, 4))
	var recs []arrow.Record
	for i := 0; i < 4; i++ {
		recs = append(recs, record(spec, synthBatch(spec, 32, uint64(i))))
		defer recs[i].Release()
	}
	base := &Trainer{
		Config:        TrainerConfig{Spec: spec, Optimizer: SGD(0.05, 0.9), BatchSize: 16, Epochs: 1, Seed: 1},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2, ResourcesPerWorker: map[string]float64{"CPU": 0.5}},
		RunConfig:     train.RunConfig{Name: "first", StoragePath: t.TempDir()},
		Datasets:      map[string]*data.Dataset{"train": data.FromArrow(recs...)},
	}
	first, err := base.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := base.WithConfig(map[string]any{"epochs": 3, "lr": 0.02})
	if err != nil {
		t.Fatal(err)
	}
	// The run directory and a report callback come in through
	// WithRunConfig, as a tuner sets them.
	var epochs []float64
	resumed := tr.(*Trainer).WithResumeFrom(first.Checkpoint).(*Trainer).WithRunConfig(func(c *train.RunConfig) {
		c.Name = "resumed"
		c.Callbacks = append(c.Callbacks, func(m map[string]float64, _ *checkpoint.Checkpoint) (bool, error) {
			epochs = append(epochs, m["epoch"])
			return false, nil
		})
	})
	res, err := resumed.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(res.Path) != "resumed" || len(epochs) != 2 || epochs[1] != 3 {
		t.Fatalf("resumed run in %s, callback saw epochs %v; want a run named resumed, epochs 2 and 3", res.Path, epochs)
	}
	if base.RunConfig.Name != "first" {
		t.Fatalf("WithRunConfig changed the original trainer's RunConfig: %+v", base.RunConfig)
	}
	if len(res.MetricsHistory) != 2 || res.Metrics["epoch"] != 3 {
		t.Fatalf("resumed run reported %d epochs ending at epoch %v, want epochs 2 and 3", len(res.MetricsHistory), res.Metrics["epoch"])
	}
	l, err := Resume(res.Checkpoint, &spec, LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Optimizer().Config.LR != 0.02 || l.Steps() != 3*8 { // 64 examples per worker, 8 per step
		t.Fatalf("checkpoint after resume: lr %v, %d steps", l.Optimizer().Config.LR, l.Steps())
	}
	if _, err := base.WithConfig(map[string]any{"learning_rate": 0.1}); err == nil {
		t.Fatal("unknown tunable accepted")
	}
	if _, err := base.WithConfig(map[string]any{"batch_size": 15}); err == nil {
		t.Fatal("batch size not divisible by the workers accepted")
	}
}
