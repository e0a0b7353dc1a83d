package tune_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
	"github.com/goray/goray/tune"
)

// synthetic is a binary classification set with a non-linear boundary.
func synthetic(n int) (features []string, cols [][]float64, labels []float64) {
	r := rand.New(rand.NewPCG(7, 8))
	features = []string{"f0", "f1", "f2", "f3"}
	cols = make([][]float64, len(features))
	for range n {
		x := make([]float64, len(features))
		for j := range x {
			x[j] = r.Float64()*2 - 1
			cols[j] = append(cols[j], x[j])
		}
		y := 0.0
		if x[0]+0.5*x[1]*x[1]-x[2]*x[3]+0.1*r.NormFloat64() > 0.2 {
			y = 1
		}
		labels = append(labels, y)
	}
	return features, cols, labels
}

// sweepLoop trains GBDT on its rank's rows of synthetic(400) (the same
// rows in every process), reporting every round.
var sweepLoop = train.RegisterLoop("tune_test.gbdtSweep", func(tc train.Context, config map[string]any) error {
	features, cols, labels := synthetic(400)
	params := gbdt.Params{}
	for k, v := range config["params"].(map[string]any) {
		params[k] = v
	}
	shard := make([][]float64, len(cols))
	var y []float64
	for i := range labels {
		if i%tc.WorldSize() != tc.WorldRank() {
			continue
		}
		for j := range cols {
			shard[j] = append(shard[j], cols[j][i])
		}
		y = append(y, labels[i])
	}
	m, err := gbdt.NewMatrix(features, shard, y)
	if err != nil {
		return err
	}
	b, err := gbdt.Train(tc.Context(), m, map[string]*gbdt.Matrix{"train": m}, params, 9,
		gbdt.WithCollective(tc.Collective()),
		gbdt.WithCallback(func(round int, metrics map[string]float64) error {
			err := tc.Report(metrics, nil)
			if errors.Is(err, train.ErrStopRequested) {
				return gbdt.ErrStopTraining
			}
			return err
		}))
	if err != nil {
		return err
	}
	if tc.WorldRank() != 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "gbdt-ckpt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ck, err := b.SaveCheckpoint(dir)
	if err != nil {
		return err
	}
	return train.SaveCheckpoint(tc, ck)
})

// TestGBDTSweep is the seed flow on a synthetic data set: max_depth from
// RandInt(1, 9) for a 2-worker GBDT data-parallel trainer, train-logloss,
// min, HyperBand; the best result's checkpoint predicts.
func TestGBDTSweep(t *testing.T) {
	features, cols, labels := synthetic(400)
	trainer := &train.DataParallelTrainer{
		TrainLoop: sweepLoop,
		Config: map[string]any{"params": map[string]any{
			"objective": "binary:logistic", "eta": 0.3, "max_depth": 6, "eval_metric": []string{"logloss"}}},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		Kind:          "GBDTTrainer",
	}
	tuner := tune.Tuner{
		// gbdt cannot warm-start from a checkpoint: paused trials start over.
		Trainable:  tune.WithoutResume(trainer),
		ParamSpace: map[string]any{"params": map[string]any{"max_depth": tune.RandInt(1, 9)}},
		TuneConfig: tune.TuneConfig{Metric: "train-logloss", Mode: "min", NumSamples: 6, Seed: 4,
			Scheduler: &tune.HyperBandScheduler{MaxT: 9, ReductionFactor: 3}},
		RunConfig: tune.RunConfig{StoragePath: t.TempDir(), Name: "gbdt"},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if errs := g.Errors(); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	best, err := g.GetBestResult("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if best.Checkpoint == nil {
		t.Fatal("best result has no checkpoint")
	}
	p, err := train.PredictorFor(best.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	var arrs []arrow.Array
	var fields []arrow.Field
	for j, name := range features {
		bld := array.NewFloat64Builder(mem)
		bld.AppendValues(cols[j][:50], nil)
		arrs = append(arrs, bld.NewArray())
		bld.Release()
		fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64})
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), arrs, 50)
	for _, a := range arrs {
		a.Release()
	}
	defer rec.Release()
	out, err := p.Predict(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	preds := out.Column(0).(*array.Float64)
	correct := 0
	for i := range 50 {
		if (preds.Value(i) > 0.5) == (labels[i] == 1) {
			correct++
		}
	}
	depth, _ := best.Config.Int("params/max_depth")
	t.Logf("best max_depth %d, train-logloss %.4f, accuracy on 50 training rows %d/50",
		depth, best.Metrics["train-logloss"], correct)
	if correct < 40 {
		t.Errorf("the best checkpoint predicts %d/50 right", correct)
	}
}
