package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestMainJob runs the whole example on a free port, as `make demo` does.
func TestMainJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := runJob(ctx, &out, []string{"--port", "-1", "--storage", t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
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
