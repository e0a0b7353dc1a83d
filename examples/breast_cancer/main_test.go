package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMainJob runs the whole example on a free port, as `make demo` does,
// into a --storage folder that does not exist yet; a second run into the
// same folder works too. Nothing is written outside it: $HOME and $TMPDIR
// stay empty.
func TestMainJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	home, tmp := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("TMPDIR", tmp)
	storage := filepath.Join(t.TempDir(), "results", "demo")
	var out bytes.Buffer
	sum, err := runJob(ctx, &out, []string{"--port", "-1", "--storage", storage})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var again bytes.Buffer
	if _, err := runJob(ctx, &again, []string{"--port", "-1", "--storage", storage, "--samples", "2"}); err != nil {
		t.Fatalf("second run into the same --storage: %v\n%s", err, again.String())
	}
	for _, d := range []string{home, tmp} {
		if ents, _ := os.ReadDir(d); len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v after the runs, want nothing", d, names)
		}
	}
	var exps []string
	ents, _ := os.ReadDir(storage)
	for _, e := range ents {
		exps = append(exps, e.Name())
	}
	if strings.Join(exps, " ") != "breast_cancer_tune breast_cancer_tune_2" {
		t.Errorf("--storage holds %v, want the two experiments", exps)
	}
	if sum.Accuracy <= 0.95 {
		t.Errorf("accuracy %.4f, want > 0.95", sum.Accuracy)
	}
	if sum.AUC < 0.98 {
		t.Errorf("AUC %.4f, want >= 0.98", sum.AUC)
	}
	if sum.BestDepth < 1 || sum.BestDepth > 8 {
		t.Errorf("best max_depth %d outside RandInt(1, 9)", sum.BestDepth)
	}
	if !strings.HasPrefix(sum.Served, `{"predictions":[`) {
		t.Errorf("served answer %q", sum.Served)
	}
	for _, stage := range []string{"split 455 train / 114 test", "Tune status", "BatchPredictor over 114 test rows", "POST first test row", "curl -s -X POST", "shut down cleanly"} {
		if !strings.Contains(out.String(), stage) {
			t.Errorf("output lacks %q:\n%s", stage, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"--workers", "0"}, {"--samples", "0"}, {"--bogus"}} {
		if _, err := runJob(ctx, &bytes.Buffer{}, args); err == nil {
			t.Errorf("%v: no error", args)
		} else if _, ok := err.(*usageError); !ok {
			t.Errorf("%v: %v is not a usage error", args, err)
		}
	}
	_, err := runJob(ctx, &bytes.Buffer{}, []string{"--data", "/no/such.csv", "--port", "-1", "--storage", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "/no/such.csv") {
		t.Errorf("missing data file: %v", err)
	}
}
