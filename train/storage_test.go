package train_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
)

// listTree returns every path under root, relative to it, sorted.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// A run writes its files in its RunConfig's StoragePath/Name and nowhere
// else, and the temporary checkpoint directories its loop used are gone
// when Fit returns. WithRunConfig (what a tuner calls) moves the run of a
// copy and leaves the original trainer's RunConfig as it was.
func TestRunWritesOnlyInItsRunDir(t *testing.T) {
	ctx := setup(t)
	root := t.TempDir()
	orig := &train.DataParallelTrainer{
		TrainLoop:     sgdLoop,
		Config:        map[string]any{"iters": 3},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{Name: "ignored", StoragePath: filepath.Join(root, "ignored"), Callbacks: make([]train.ReportFunc, 0, 4)},
		Datasets:      map[string]*data.Dataset{"train": data.Range(100)},
	}
	seen := 0
	tr := orig.WithRunConfig(func(c *train.RunConfig) {
		c.StoragePath, c.Name = filepath.Join(root, "trial"), "run"
		c.Callbacks = append(c.Callbacks, func(map[string]float64, *checkpoint.Checkpoint) (bool, error) {
			seen++
			return false, nil
		})
	})
	// The original's Callbacks has spare capacity: an append that shared
	// its array would show in the slot past its length.
	if orig.RunConfig.Name != "ignored" || len(orig.RunConfig.Callbacks) != 0 || orig.RunConfig.Callbacks[:1][0] != nil {
		t.Fatal("WithRunConfig changed the original trainer's RunConfig")
	}
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen != 3 {
		t.Errorf("the callback saw %d reports, want 3", seen)
	}
	runDir := filepath.Join(root, "trial", "run")
	if res.Path != runDir {
		t.Errorf("Result.Path = %s, want %s", res.Path, runDir)
	}
	var want []string
	want = append(want, "trial", "trial/run")
	for i := range 3 {
		d := fmt.Sprintf("trial/run/checkpoint_%06d", i)
		want = append(want, d, d+"/metadata.json", d+"/state.txt")
	}
	want = append(want, "trial/run/result.json")
	sort.Strings(want)
	if got := listTree(t, root); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files under the storage root:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// RunConfig.Callbacks see every report, in order, with the checkpoint as
// persisted in the run directory; one asking to stop ends the run, one
// failing fails it with its error.
func TestRunConfigCallbacks(t *testing.T) {
	ctx := setup(t)
	errBoom := errors.New("boom")
	for name, tc := range map[string]struct {
		stopAt, failAt int
		reports        int
	}{
		"observe": {reports: 6},
		"stop":    {stopAt: 3, reports: 3},
		"fail":    {failAt: 2, reports: 2},
	} {
		t.Run(name, func(t *testing.T) {
			storage := t.TempDir()
			var order []string
			var iters []float64
			first := func(m map[string]float64, ck *checkpoint.Checkpoint) (bool, error) {
				order = append(order, "first")
				iters = append(iters, m["training_iteration"])
				if ck == nil || !strings.HasPrefix(ck.Path(), filepath.Join(storage, "cb")) {
					return false, fmt.Errorf("checkpoint %v is not in the run directory", ck)
				}
				return false, nil
			}
			second := func(m map[string]float64, _ *checkpoint.Checkpoint) (bool, error) {
				order = append(order, "second")
				it := int(m["training_iteration"])
				if it == tc.failAt {
					return false, errBoom
				}
				return it == tc.stopAt, nil
			}
			tr := &train.DataParallelTrainer{
				TrainLoop:     sgdLoop,
				Config:        map[string]any{"iters": 6},
				ScalingConfig: train.ScalingConfig{NumWorkers: 2},
				RunConfig:     train.RunConfig{Name: "cb", StoragePath: storage, Callbacks: []train.ReportFunc{first, second}},
				Datasets:      map[string]*data.Dataset{"train": data.Range(100)},
			}
			res, err := tr.Fit(ctx)
			if tc.failAt > 0 {
				if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "Callbacks[1]") {
					t.Fatalf("Fit: %v, want the callback's error naming Callbacks[1]", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(res.MetricsHistory) != tc.reports || len(iters) != tc.reports {
				t.Fatalf("%d reports, callbacks saw %v; want %d", len(res.MetricsHistory), iters, tc.reports)
			}
			for i, it := range iters {
				if it != float64(i+1) || order[2*i] != "first" || order[2*i+1] != "second" {
					t.Fatalf("callback calls %v for iterations %v", order, iters)
				}
			}
		})
	}
	tr := &train.DataParallelTrainer{TrainLoop: sgdLoop, RunConfig: train.RunConfig{StoragePath: t.TempDir(), Callbacks: []train.ReportFunc{nil}}}
	if _, err := tr.Fit(ctx); !errors.Is(err, train.ErrInvalidConfig) || !strings.Contains(err.Error(), "Callbacks[0]") {
		t.Errorf("a nil callback: %v", err)
	}
}

var reportOnceLoop = train.RegisterLoop("train_test.reportOnce", func(tc train.Context, _ map[string]any) error {
	return tc.Report(map[string]float64{"x": 1}, nil)
})

// With no StoragePath a run goes under ~/goray_results and says so, once.
func TestDefaultStoragePathIsLogged(t *testing.T) {
	ctx := setup(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	tr := &train.DataParallelTrainer{
		TrainLoop: reportOnceLoop,
	}
	for range 2 {
		res, err := tr.Fit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(home, "goray_results"); filepath.Dir(res.Path) != want {
			t.Errorf("run directory %s, want one in %s", res.Path, want)
		}
	}
	want := filepath.Join(home, "goray_results")
	if n := strings.Count(buf.String(), want); n != 1 {
		t.Errorf("the default location %s was logged %d times, want once; log:\n%s", want, n, buf.String())
	}
}
