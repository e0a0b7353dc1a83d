package train_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
)

// point is a struct a loop config carries once registered.
type point struct{ X, Y float64 }

func init() { train.RegisterConfigType[point]() }

// echoConfig is a config with a value of every kind a loop config holds.
func echoConfig() map[string]any {
	return map[string]any{
		"n":      7,
		"lr":     0.5,
		"seed":   uint64(1 << 63),
		"name":   "run",
		"on":     true,
		"blob":   []byte{0, 1, 2},
		"names":  []string{"a", "b"},
		"scores": map[string]float64{"x": 1.5},
		"nested": map[string]any{"depth": int64(3), "list": []any{1, "x", nil, []float32{2.5}}},
		"point":  point{X: 1, Y: 2},
		"points": []point{{X: 3}},
		"none":   nil,
	}
}

// configLoop checks that every worker's config holds what the driver's
// did, with the same Go types, in a map of its own: rank 1 changes its copy
// before a barrier, rank 0 reads its own after it.
var configLoop = train.RegisterLoop("train_test.config", func(tc train.Context, config map[string]any) error {
	ctx := tc.Context()
	if !reflect.DeepEqual(config, echoConfig()) {
		return fmt.Errorf("rank %d got config %#v, want %#v", tc.WorldRank(), config, echoConfig())
	}
	if tc.WorldRank() == 1 {
		config["n"] = -1
		config["nested"].(map[string]any)["depth"] = int64(-1)
	}
	if err := tc.Collective().Barrier(ctx); err != nil {
		return err
	}
	if tc.WorldRank() == 0 && (config["n"] != 7 || config["nested"].(map[string]any)["depth"] != int64(3)) {
		return fmt.Errorf("rank 0 sees rank 1's changes to its config: %v", config)
	}
	return tc.Report(map[string]float64{"ok": 1}, nil)
})

// A loop referenced by its registered name runs on every worker with the
// trainer's Config, decoded anew on each: embedded, and with every call
// encoded as on a cluster.
func TestLoopByNameWithConfig(t *testing.T) {
	for name, opts := range map[string][]core.InitOption{
		"embedded":   nil,
		"encode-all": {core.WithEncodeAll()},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := setupWith(t, opts...)
			cfg := echoConfig()
			tr := &train.DataParallelTrainer{
				TrainLoop:     configLoop,
				Config:        cfg,
				ScalingConfig: train.ScalingConfig{NumWorkers: 2},
				RunConfig:     train.RunConfig{StoragePath: t.TempDir()},
			}
			res, err := tr.Fit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Metrics["ok"] != 1 {
				t.Fatalf("metrics %v", res.Metrics)
			}
			if !reflect.DeepEqual(cfg, echoConfig()) {
				t.Fatalf("the driver's Config changed: %v", cfg)
			}
		})
	}
}

// In encode-all mode a worker actor is constructed from its encoded
// argument, by name; only the method that links it to the driver's
// in-process state stays LocalOnly.
func TestWorkerActorArgumentIsEncoded(t *testing.T) {
	ctx := setupWith(t, core.WithEncodeAll())
	tr := &train.DataParallelTrainer{
		TrainLoop:     sgdLoop,
		Config:        map[string]any{"iters": 2},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{StoragePath: t.TempDir()},
		Datasets:      map[string]*data.Dataset{"train": data.Range(20)},
	}
	if _, err := tr.Fit(ctx); err != nil {
		t.Fatal(err)
	}
	bypassed := core.EncodeAllBypassed()
	for _, k := range []string{"actor class train.worker", "actor class train.collectiveGroup", "actor method train.collectiveGroup.call"} {
		if _, ok := bypassed[k]; ok {
			t.Errorf("%s kept the in-process path: %v", k, bypassed)
		}
	}
	if bypassed["actor method train.worker.run"] == 0 {
		t.Errorf("train.worker.run is LocalOnly but no call of it was counted: %v", bypassed)
	}
	local := core.LocalOnlyRegistrations()
	if slices.Contains(local, "actor class train.worker") || !slices.Contains(local, "actor method train.worker.run") {
		t.Errorf("LocalOnly registrations %v: want train.worker.run and not the train.worker class", local)
	}
}

type unregistered struct{ A int }

type namedMap map[string]any

// A config value that cannot reach a worker fails Fit before any worker
// starts, naming its key.
func TestConfigThatCannotTravel(t *testing.T) {
	ctx := setup(t)
	for name, tc := range map[string]struct {
		config map[string]any
		want   string
	}{
		"func":          {map[string]any{"f": func() {}}, `Config["f"]`},
		"chan":          {map[string]any{"outer": map[string]any{"c": make(chan int)}}, `Config["outer"]["c"]`},
		"unregistered":  {map[string]any{"u": unregistered{A: 1}}, `Config["u"]`},
		"int keys":      {map[string]any{"m": map[int]int{1: 2}}, `Config["m"]`},
		"named map":     {map[string]any{"m": namedMap{}}, `Config["m"]`},
		"inside a list": {map[string]any{"l": []any{1, unregistered{}}}, `Config["l"][1]`},
	} {
		t.Run(name, func(t *testing.T) {
			tr := &train.DataParallelTrainer{TrainLoop: nopLoop, Config: tc.config, RunConfig: train.RunConfig{StoragePath: t.TempDir()}}
			_, err := tr.Fit(ctx)
			if !errors.Is(err, train.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an invalid-config error naming %s", err, tc.want)
			}
		})
	}
}

func TestLoopRegistration(t *testing.T) {
	ctx := setup(t)
	tr := &train.DataParallelTrainer{RunConfig: train.RunConfig{StoragePath: t.TempDir()}}
	if _, err := tr.Fit(ctx); !errors.Is(err, train.ErrInvalidConfig) || !strings.Contains(err.Error(), "RegisterLoop") {
		t.Errorf("no loop: %v", err)
	}
	if sgdLoop.Name() != "train_test.sgd" {
		t.Errorf("Name() = %q", sgdLoop.Name())
	}
	for name, register := range map[string]func(){
		"twice":      func() { train.RegisterLoop("train_test.sgd", func(train.Context, map[string]any) error { return nil }) },
		"no name":    func() { train.RegisterLoop("", func(train.Context, map[string]any) error { return nil }) },
		"no func":    func() { train.RegisterLoop("train_test.nil", nil) },
		"bad config": func() { train.RegisterConfigType[struct{ F func() }]() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			register()
		}()
	}
}

// setupWith starts a fresh runtime with opts, for one test.
func setupWith(t *testing.T, opts ...core.InitOption) context.Context {
	t.Helper()
	core.Shutdown()
	if err := core.Init(append([]core.InitOption{core.WithNumCPUs(4)}, opts...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// train's sentinels keep their identity on the way from a worker process:
// the driver tells a worker's real failure from the aborts it caused.
func TestSentinelsCrossProcesses(t *testing.T) {
	for _, sentinel := range []error{train.ErrInvalidConfig, train.ErrWorkerFailed, train.ErrStopRequested, train.ErrGroupAborted} {
		remote := core.DecodeError(core.EncodeError(fmt.Errorf("rank 1: %w", sentinel)))
		if !errors.Is(remote, sentinel) {
			t.Errorf("%v lost its identity on the wire: %v", sentinel, remote)
		}
	}
}
