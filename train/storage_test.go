package train_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

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

// A run under WithRunDir writes its files there and nowhere else, and the
// temporary checkpoint directories its loop used are gone when Fit returns.
func TestRunWritesOnlyInItsRunDir(t *testing.T) {
	ctx := setup(t)
	root := t.TempDir()
	runDir := filepath.Join(root, "trial", "run")
	tr := &train.DataParallelTrainer{
		TrainLoop:     sgdLoop(nil),
		Config:        map[string]any{"iters": 3},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		// Overridden by the context.
		RunConfig: train.RunConfig{Name: "ignored", StoragePath: filepath.Join(root, "ignored")},
		Datasets:  map[string]*data.Dataset{"train": data.Range(100)},
	}
	res, err := tr.Fit(train.WithRunDir(ctx, runDir))
	if err != nil {
		t.Fatal(err)
	}
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

// With no StoragePath a run goes under ~/goray_results and says so, once.
func TestDefaultStoragePathIsLogged(t *testing.T) {
	ctx := setup(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	tr := &train.DataParallelTrainer{
		TrainLoop: func(tc train.Context, _ map[string]any) error {
			return tc.Report(map[string]float64{"x": 1}, nil)
		},
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
