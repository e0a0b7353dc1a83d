package tune

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/goray/goray/checkpoint"
)

// runCounter counts the runs of each trial.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (r *runCounter) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string]int{}
	}
	r.runs[id]++
}

func (r *runCounter) get(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// stepper reports steps iterations of loss = x/step, checkpointing each,
// resuming from its checkpoint; trials whose x is >= block wait for ctx
// instead of finishing.
func stepper(steps int, block float64, runs *runCounter, onDone func()) TrainableFunc {
	return func(tc Context, c Config) error {
		runs.add(tc.TrialID())
		x, _ := c.Float("x")
		start, _ := strconv.Atoi(loadState(tc))
		for step := start + 1; step <= steps; step++ {
			if x >= block && step == 2 {
				<-tc.Done()
				return tc.Err()
			}
			ck, err := saveStep(tc, strconv.Itoa(step))
			if err != nil {
				return err
			}
			if err := tc.Report(map[string]float64{"loss": x / float64(step)}, ck); err != nil {
				return err
			}
		}
		if onDone != nil {
			onDone()
		}
		return nil
	}
}

func restoreSpace() map[string]any {
	return map[string]any{"x": GridSearch(1.0, 2.0, 3.0, 4.0, 5.0, 6.0), "noise": Uniform(0, 1)}
}

func checkRestored(t *testing.T, path string, finishedBefore map[string]Config) {
	t.Helper()
	var runs runCounter
	tuner, err := Restore(path, stepper(3, 1e9, &runs, nil))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 6 {
		t.Fatalf("restored grid has %d trials, want 6", g.Len())
	}
	seen := map[float64]bool{}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated || r.Metrics["training_iteration"] != 3 {
			t.Errorf("trial %s: %s at iteration %v", r.TrialID, r.Status, r.Metrics["training_iteration"])
		}
		if cfg, ok := finishedBefore[r.TrialID]; ok {
			if n := runs.get(r.TrialID); n != 0 {
				t.Errorf("finished trial %s ran %d more times", r.TrialID, n)
			}
			if cfg["x"] != r.Config["x"] || cfg["noise"] != r.Config["noise"] {
				t.Errorf("trial %s config %v, was %v", r.TrialID, r.Config, cfg)
			}
		} else if runs.get(r.TrialID) != 1 {
			t.Errorf("unfinished trial %s ran %d times after restore, want 1", r.TrialID, runs.get(r.TrialID))
		}
		x, _ := r.Config.Float("x")
		seen[x] = true
		for i, m := range r.MetricsHistory {
			if int(m["training_iteration"]) != i+1 {
				t.Errorf("trial %s history: result %d is iteration %v", r.TrialID, i, m["training_iteration"])
			}
		}
	}
	if len(seen) != 6 {
		t.Errorf("restored experiment covers x=%v, want the 6 grid points once each", seen)
	}
}

func TestRestoreAfterInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var runs runCounter
	var mu sync.Mutex
	done := 0
	tuner := Tuner{
		Trainable: stepper(3, 4, &runs, func() {
			mu.Lock()
			defer mu.Unlock()
			if done++; done == 3 {
				cancel() // interrupt once the three small-x trials are done
			}
		}),
		ParamSpace: restoreSpace(),
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min", MaxConcurrentTrials: 6, Seed: 11},
		RunConfig:  RunConfig{StoragePath: t.TempDir(), Name: "interrupted"},
	}
	g, err := tuner.Fit(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Fit returned %v", err)
	}
	finished := map[string]Config{}
	for _, r := range g.Results() {
		if r.Status == StatusTerminated {
			finished[r.TrialID] = r.Config
		}
	}
	if len(finished) < 3 {
		t.Fatalf("%d trials finished before the interrupt, want 3", len(finished))
	}
	checkRestored(t, g.Path(), finished)
}

// TestRestoreAfterKill kills a process running an experiment with SIGKILL
// and finishes the experiment with Restore.
func TestRestoreAfterKill(t *testing.T) {
	if dir := os.Getenv("TUNE_KILL_CHILD_DIR"); dir != "" {
		var runs runCounter
		tuner := Tuner{
			Trainable:  stepper(3, 4, &runs, nil),
			ParamSpace: restoreSpace(),
			TuneConfig: TuneConfig{Metric: "loss", Mode: "min", MaxConcurrentTrials: 6, Seed: 11},
			RunConfig:  RunConfig{StoragePath: dir, Name: "killed"},
		}
		tuner.Fit(context.Background()) // blocks until killed
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreAfterKill$")
	cmd.Env = append(os.Environ(), "TUNE_KILL_CHILD_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "killed")
	var st experimentState
	deadline := time.After(time.Minute)
	for {
		b, err := os.ReadFile(filepath.Join(path, stateFile))
		if err == nil && json.Unmarshal(b, &st) == nil {
			n := 0
			for _, ts := range st.Trials {
				if ts.Status == StatusTerminated {
					n++
				}
			}
			if n == 3 && len(st.Trials) == 6 {
				break
			}
		}
		select {
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the child never recorded 3 finished trials")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	finished := map[string]Config{}
	for _, ts := range st.Trials {
		if ts.Status == StatusTerminated {
			v, _ := decodeTypedJSON(ts.Config)
			finished[ts.ID] = Config(v.(map[string]any))
		}
	}
	checkRestored(t, path, finished)
}

func TestRestoreErrors(t *testing.T) {
	if _, err := Restore(t.TempDir(), func(Context, Config) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty dir: %v", err)
	}
	dir := t.TempDir()
	tuner := Tuner{
		Trainable:  func(tc Context, c Config) error { return tc.Report(map[string]float64{"a": 1}, nil) },
		ParamSpace: map[string]any{"f": SampleFrom(func(Config) any { return 1 })},
		RunConfig:  RunConfig{StoragePath: dir, Name: "e"},
	}
	if _, err := tuner.Fit(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(filepath.Join(dir, "e"), tuner.Trainable)
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("SampleFrom space without WithParamSpace: %v", err)
	}
	tn, err := Restore(filepath.Join(dir, "e"), tuner.Trainable, WithParamSpace(tuner.ParamSpace))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tn.Fit(t.Context())
	if err != nil || g.Len() != 1 || g.Get(0).Status != StatusTerminated {
		t.Errorf("restoring a finished experiment: %v %v", g, err)
	}
}

func TestStateRoundTripsTypes(t *testing.T) {
	space := map[string]any{"i": 3, "f": 3.0, "s": "x", "b": true, "nested": map[string]any{"l": []any{1, 2.5}},
		"u": Uniform(1, 2), "g": GridSearch(1, "a"), "r": QRandInt(1, 9, 2), "n": RandN(0, 1), "lu": LogUniform(1, 10)}
	enc, err := encodeTyped(space)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(enc)
	back, err := decodeTypedJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	m := back.(map[string]any)
	if m["i"] != 3 || m["f"] != 3.0 || m["nested"].(map[string]any)["l"].([]any)[1] != 2.5 {
		t.Errorf("types changed: %#v", m)
	}
	for _, k := range []string{"u", "g", "r", "n", "lu"} {
		if m[k].(Domain).String() != space[k].(Domain).String() {
			t.Errorf("%s: %v != %v", k, m[k], space[k])
		}
	}
}

// TestRestoreHyperBand interrupts a HyperBand sweep midway and finishes it
// with Restore: the replayed scheduler state lets it end with the best
// trial run to MaxT.
func TestRestoreHyperBand(t *testing.T) {
	const trials, maxT = 9, 9
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	reports := 0
	inner := curve(maxT)
	trainable := func(tc Context, c Config) error {
		return inner(&countingContext{Context: tc, onReport: func() {
			mu.Lock()
			defer mu.Unlock()
			if reports++; reports == 12 {
				cancel()
			}
		}}, c)
	}
	tuner := Tuner{
		Trainable:  trainable,
		ParamSpace: map[string]any{"a": GridSearch(shuffledGrid(trials)...)},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min", Seed: 1, MaxConcurrentTrials: 2,
			Scheduler: &HyperBandScheduler{MaxT: maxT, ReductionFactor: 3}},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "hb"},
	}
	g, err := tuner.Fit(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Fit: %v", err)
	}
	before := map[Status]int{}
	for _, r := range g.Results() {
		before[r.Status]++
	}
	t.Logf("interrupted after %d trials created: %v, %d results", g.Len(), before, totalIterations(g))
	restored, err := Restore(g.Path(), curve(maxT))
	if err != nil {
		t.Fatal(err)
	}
	g, err = restored.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Errors()) > 0 {
		t.Fatal(g.Errors())
	}
	best, err := g.GetBestResult("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if best.Config["a"] != 0.1 || best.Metrics["training_iteration"] != maxT {
		t.Errorf("best a=%v at iteration %v, want 0.1 at %d", best.Config["a"], best.Metrics["training_iteration"], maxT)
	}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated {
			t.Errorf("trial %s ended %s", r.TrialID, r.Status)
		}
	}
	t.Logf("after restore: %d trials, %d results", g.Len(), totalIterations(g))
}

// countingContext calls onReport before each report.
type countingContext struct {
	Context
	onReport func()
}

func (c *countingContext) Report(m map[string]float64, ck *checkpoint.Checkpoint) error {
	c.onReport()
	return c.Context.Report(m, ck)
}
