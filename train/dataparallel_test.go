package train_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
)

func setup(t *testing.T) context.Context {
	t.Helper()
	core.Shutdown()
	if err := core.Init(core.WithNumCPUs(4)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// saveState writes a one-file checkpoint holding the loop's iteration and
// weights, in a temporary directory of the run.
func saveState(tc train.Context, iter int, w float64) (*checkpoint.Checkpoint, error) {
	dir, err := train.TempDir(tc, "ckpt")
	if err != nil {
		return nil, err
	}
	c, err := checkpoint.New(dir, checkpoint.Metadata{Framework: "test", FormatVersion: 1})
	if err != nil {
		return nil, err
	}
	return c, c.WriteFile("state.txt", []byte(fmt.Sprintf("%d %v", iter, w)))
}

func loadState(c *checkpoint.Checkpoint) (int, float64) {
	if c == nil {
		return 0, 0
	}
	b, _ := c.ReadFile("state.txt")
	var it int
	var w float64
	fmt.Sscanf(string(b), "%d %v", &it, &w)
	return it, w
}

// crashes holds, by the "crash" key of a config, whether sgdLoop has
// crashed once already: the loop's only state outside its config, which
// works because these tests run their workers in the test's process.
var crashes sync.Map // string -> *atomic.Bool

// crashOnce makes the sgdLoop of a config naming key crash once, and
// returns what records that it did.
func crashOnce(key string) *atomic.Bool {
	b := new(atomic.Bool)
	crashes.Store(key, b)
	return b
}

// A tiny data-parallel SGD: each worker fits y = 3x on its shard, gradients
// are averaged with AllReduce, so all workers keep the same weight. Config:
// "iters" (int), optionally "crash" (a crashOnce key: rank 1 panics once at
// iteration 5).
var sgdLoop = train.RegisterLoop("train_test.sgd", func(tc train.Context, config map[string]any) error {
	start, w := loadState(tc.Checkpoint())
	iters := config["iters"].(int)
	var crashed *atomic.Bool
	if key, ok := config["crash"].(string); ok {
		b, _ := crashes.Load(key)
		crashed = b.(*atomic.Bool)
	}
	ds := tc.DatasetShard("train")
	var xs []float64
	for batch, err := range ds.IterBatches(tc.Context()) {
		if err != nil {
			return err
		}
		col := batch.Column(0)
		for i := 0; i < col.Len(); i++ {
			xs = append(xs, float64(col.(interface{ Value(int) int64 }).Value(i)%10))
		}
	}
	for it := start; it < iters; it++ {
		if crashed != nil && tc.WorldRank() == 1 && it == 5 && crashed.CompareAndSwap(false, true) {
			panic("worker lost")
		}
		g := []float64{0, float64(len(xs))}
		for _, x := range xs {
			g[0] += 2 * (w*x - 3*x) * x
		}
		if err := tc.Collective().AllReduce(tc.Context(), g, train.Sum); err != nil {
			return err
		}
		w -= 0.01 * g[0] / g[1]
		// Every worker must hold the same weight.
		chk := []float64{w}
		if err := tc.Collective().AllReduce(tc.Context(), chk, train.Max); err != nil {
			return err
		}
		if chk[0] != w {
			return fmt.Errorf("rank %d weight %v differs from max %v", tc.WorldRank(), w, chk[0])
		}
		var ck *checkpoint.Checkpoint
		if tc.WorldRank() == 0 {
			var err error
			if ck, err = saveState(tc, it+1, w); err != nil {
				return err
			}
		}
		if err := tc.Report(map[string]float64{"w": w, "loss": (w - 3) * (w - 3)}, ck); err != nil {
			return err
		}
	}
	return nil
})

func TestDataParallelTrainerAgreesAcrossWorkers(t *testing.T) {
	ctx := setup(t)
	var finals []float64
	for _, n := range []int{1, 2} {
		tr := &train.DataParallelTrainer{
			TrainLoop:     sgdLoop,
			Config:        map[string]any{"iters": 20},
			ScalingConfig: train.ScalingConfig{NumWorkers: n},
			RunConfig:     train.RunConfig{Name: fmt.Sprintf("sgd%d", n), StoragePath: t.TempDir(), CheckpointConfig: train.CheckpointConfig{NumToKeep: 2, ScoreAttribute: "loss", ScoreOrder: "min"}},
			Datasets:      map[string]*data.Dataset{"train": data.Range(1000)},
		}
		res, err := tr.Fit(ctx)
		if err != nil {
			t.Fatalf("%d workers: %v", n, err)
		}
		if len(res.MetricsHistory) != 20 || res.Metrics["training_iteration"] != 20 {
			t.Fatalf("%d workers: %d reports, last %v", n, len(res.MetricsHistory), res.Metrics)
		}
		if len(res.BestCheckpoints) != 2 {
			t.Fatalf("kept %d checkpoints, want 2", len(res.BestCheckpoints))
		}
		entries, _ := filepath.Glob(filepath.Join(res.Path, "checkpoint_*"))
		if len(entries) != 2 {
			t.Fatalf("%d checkpoint dirs on disk, want 2", len(entries))
		}
		if _, w := loadState(res.Checkpoint); w != res.Metrics["w"] {
			t.Fatalf("checkpoint weight %v, metrics %v", w, res.Metrics["w"])
		}
		finals = append(finals, res.Metrics["w"])
	}
	if d := finals[0] - finals[1]; d > 1e-9 || d < -1e-9 {
		t.Fatalf("1 worker reached w=%v, 2 workers w=%v", finals[0], finals[1])
	}
}

func TestWorkerFailureRestartsFromCheckpoint(t *testing.T) {
	ctx := setup(t)
	crashed := crashOnce(t.Name())
	tr := &train.DataParallelTrainer{
		TrainLoop:     sgdLoop,
		Config:        map[string]any{"iters": 12, "crash": t.Name()},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{Name: "crash", StoragePath: t.TempDir(), FailureConfig: train.FailureConfig{MaxFailures: 1}},
		Datasets:      map[string]*data.Dataset{"train": data.Range(200)},
	}
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !crashed.Load() {
		t.Fatal("the worker never crashed")
	}
	// Resumed at iteration 5: 5 reports before, 7 after.
	if len(res.MetricsHistory) != 12 {
		t.Fatalf("%d reports, want 12", len(res.MetricsHistory))
	}
	it, _ := loadState(res.Checkpoint)
	if it != 12 {
		t.Fatalf("final checkpoint at iteration %d", it)
	}

	// With no failures allowed, the error names the rank and the cause.
	crashed.Store(false)
	tr.RunConfig = train.RunConfig{Name: "crash2", StoragePath: t.TempDir()}
	_, err = tr.Fit(ctx)
	if !errors.Is(err, train.ErrWorkerFailed) || !strings.Contains(err.Error(), "rank 1") || !strings.Contains(err.Error(), "worker lost") {
		t.Fatalf("got %v", err)
	}
}

func TestStopCondition(t *testing.T) {
	ctx := setup(t)
	tr := &train.DataParallelTrainer{
		TrainLoop:     sgdLoop,
		Config:        map[string]any{"iters": 100},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{StoragePath: t.TempDir(), Stop: map[string]float64{"training_iteration": 7}},
		Datasets:      map[string]*data.Dataset{"train": data.Range(100)},
	}
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MetricsHistory) != 7 {
		t.Fatalf("%d reports, want 7", len(res.MetricsHistory))
	}
}

// collectivesLoop checks every collective of a 3-worker group.
var collectivesLoop = train.RegisterLoop("train_test.collectives", func(tc train.Context, _ map[string]any) error {
	var msg []byte
	if tc.WorldRank() == 2 {
		msg = []byte("from rank 2")
	}
	got, err := tc.Collective().Broadcast(tc.Context(), msg, 2)
	if err != nil {
		return err
	}
	if string(got) != "from rank 2" {
		return fmt.Errorf("rank %d got %q", tc.WorldRank(), got)
	}
	if err := tc.Collective().Barrier(tc.Context()); err != nil {
		return err
	}
	v := []float64{float64(tc.WorldRank())}
	if err := tc.Collective().AllReduce(tc.Context(), v, train.Mean); err != nil {
		return err
	}
	if v[0] != 1 {
		return fmt.Errorf("mean %v", v[0])
	}
	// Integer sums are exact (1<<60 + 1 is not a float64).
	ints := []int64{1<<60 + 1}
	if err := tc.Collective().AllReduceInt64(tc.Context(), ints, train.Sum); err != nil {
		return err
	}
	if ints[0] != 3<<60+3 {
		return fmt.Errorf("int64 sum %d", ints[0])
	}
	all, err := tc.Collective().AllGather(tc.Context(), []byte{byte('a' + tc.WorldRank())})
	if err != nil {
		return err
	}
	if len(all) != 3 || string(all[0])+string(all[1])+string(all[2]) != "abc" {
		return fmt.Errorf("allgather %q", all)
	}
	return tc.Report(map[string]float64{"ok": 1}, nil)
})

func TestCollectivesOfAWorkerGroup(t *testing.T) {
	ctx := setup(t)
	tr := &train.DataParallelTrainer{
		ScalingConfig: train.ScalingConfig{NumWorkers: 3},
		RunConfig:     train.RunConfig{StoragePath: t.TempDir()},
		TrainLoop:     collectivesLoop,
	}
	if _, err := tr.Fit(ctx); err != nil {
		t.Fatal(err)
	}
}

var nopLoop = train.RegisterLoop("train_test.nop", func(train.Context, map[string]any) error { return nil })

func TestBadConfig(t *testing.T) {
	ctx := setup(t)
	loop := nopLoop
	for name, tr := range map[string]*train.DataParallelTrainer{
		"NumWorkers":         {TrainLoop: loop, ScalingConfig: train.ScalingConfig{NumWorkers: -1}},
		"ScoreOrder":         {TrainLoop: loop, RunConfig: train.RunConfig{CheckpointConfig: train.CheckpointConfig{ScoreOrder: "up"}}},
		"TrainLoop":          {},
		"ResourcesPerWorker": {TrainLoop: loop, ScalingConfig: train.ScalingConfig{ResourcesPerWorker: map[string]float64{"CPU": -2}}},
	} {
		_, err := tr.Fit(ctx)
		if !errors.Is(err, train.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// More CPUs per worker than the machine has fails at once.
	tr := &train.DataParallelTrainer{TrainLoop: loop, RunConfig: train.RunConfig{StoragePath: t.TempDir()}, ScalingConfig: train.ScalingConfig{ResourcesPerWorker: map[string]float64{"CPU": 64}}}
	if _, err := tr.Fit(ctx); !errors.Is(err, core.ErrInfeasible) {
		t.Errorf("infeasible: got %v", err)
	}
}
