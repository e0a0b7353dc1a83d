package tune

import (
	"bytes"
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
	cmd.Env = append(os.Environ(), "TUNE_KILL_CHILD_DIR="+dir, "TMPDIR="+t.TempDir())
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

// killChild runs the test named run in a child process with env set, waits
// until ready says the child got far enough, and kills it with SIGKILL.
func killChild(t *testing.T, run string, env []string, ready func() bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+run+"$", "-test.count=1")
	// A killed child cannot remove its temporary files (the runtime's spill
	// directory): give it a temporary directory of the test's.
	cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir()), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("the child exited before it was killed (%v):\n%s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the child never got ready:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
}

// readState reads an experiment's state file; ok is false while there is none.
func readState(path string) (st experimentState, ok bool) {
	b, err := os.ReadFile(filepath.Join(path, stateFile))
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

// checkpointEvery3 reports iterations 1..10, with a checkpoint every third,
// sleeping a little each; it resumes from its checkpoint. When block is
// set, trials whose x is above 8 stop at iteration 5 and wait to be killed.
func checkpointEvery3(runs *runCounter, block bool) TrainableFunc {
	return func(tc Context, c Config) error {
		runs.add(tc.TrialID())
		x, _ := c.Float("x")
		start, _ := strconv.Atoi(loadState(tc))
		for step := start + 1; step <= 10; step++ {
			if block && x > 8 && step == 6 {
				<-tc.Done()
				return tc.Err()
			}
			var ck *checkpoint.Checkpoint
			if step%3 == 0 {
				var err error
				if ck, err = saveStep(tc, strconv.Itoa(step)); err != nil {
					return err
				}
			}
			time.Sleep(2 * time.Millisecond)
			if err := tc.Report(map[string]float64{"loss": x / float64(step)}, ck); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestRestoreAfterKillCutsResults kills an experiment with SIGKILL while four
// trials are past their last checkpoint (iteration 5, checkpoint at 3) and
// finishes it with Restore: every trial's result.json and history hold each
// of its 10 iterations exactly once, and trials finished before the kill do
// not run again.
func TestRestoreAfterKillCutsResults(t *testing.T) {
	grid := make([]any, 20)
	for i := range grid {
		grid[i] = float64(i + 1)
	}
	space := map[string]any{"x": GridSearch(grid...)}
	if dir := os.Getenv("TUNE_KILL_CUT_DIR"); dir != "" {
		var runs runCounter
		tuner := Tuner{
			Trainable:  checkpointEvery3(&runs, true),
			ParamSpace: space,
			TuneConfig: TuneConfig{Metric: "loss", Mode: "min", MaxConcurrentTrials: 4, Seed: 3},
			RunConfig:  RunConfig{StoragePath: dir, Name: "cut"},
		}
		tuner.Fit(context.Background()) // blocks until killed
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cut")
	var before experimentState
	killChild(t, "TestRestoreAfterKillCutsResults", []string{"TUNE_KILL_CUT_DIR=" + dir}, func() bool {
		st, ok := readState(path)
		if !ok {
			return false
		}
		done, blocked := 0, 0
		for _, ts := range st.Trials {
			switch {
			case ts.Status == StatusTerminated:
				done++
			case ts.Status != StatusTerminated && ts.CheckpointIter == 3:
				hist, _ := readResults(filepath.Join(path, ts.Dir, resultFile))
				if len(hist) == 5 {
					blocked++
				}
			}
		}
		before = st
		return done == 8 && blocked == 4
	})
	finished := map[string]bool{}
	for _, ts := range before.Trials {
		finished[ts.ID] = ts.Status == StatusTerminated
	}

	var runs runCounter
	tuner, err := Restore(path, checkpointEvery3(&runs, false))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 20 {
		t.Fatalf("restored grid has %d trials, want 20", g.Len())
	}
	checkOnce := func(what string, hist []map[string]float64) {
		t.Helper()
		iters := make([]int, len(hist))
		for i, m := range hist {
			iters[i] = int(m["training_iteration"])
		}
		ok := len(iters) == 10
		for i, it := range iters {
			ok = ok && it == i+1
		}
		if !ok {
			t.Errorf("%s: iterations %v, want 1..10 once each", what, iters)
		}
	}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated {
			t.Errorf("trial %s ended %s", r.TrialID, r.Status)
		}
		if finished[r.TrialID] && runs.get(r.TrialID) != 0 {
			t.Errorf("trial %s finished before the kill and ran %d more times", r.TrialID, runs.get(r.TrialID))
		}
		checkOnce("trial "+r.TrialID+" MetricsHistory", r.MetricsHistory)
		onDisk, err := readResults(filepath.Join(r.Path, resultFile))
		if err != nil {
			t.Fatal(err)
		}
		checkOnce("trial "+r.TrialID+" result.json", onDisk)
		b, err := os.ReadFile(filepath.Join(r.Path, progressFile))
		if err != nil {
			t.Fatal(err)
		}
		if rows := bytes.Count(b, []byte{'\n'}) - 1; rows != 10 {
			t.Errorf("trial %s progress.csv has %d rows, want 10", r.TrialID, rows)
		}
	}
	// A second restore reads the histories back from the files.
	again, err := Restore(path, checkpointEvery3(&runs, false))
	if err != nil {
		t.Fatal(err)
	}
	g, err = again.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.Results() {
		checkOnce("trial "+r.TrialID+" after a second restore", r.MetricsHistory)
	}
}

// TestRestoreRightAfterStart kills an experiment as soon as its first trial
// reports, well within the first second: the experiment state is already
// on disk, so Restore finishes it.
func TestRestoreRightAfterStart(t *testing.T) {
	space := map[string]any{"x": GridSearch(1.0, 2.0, 3.0)}
	if dir := os.Getenv("TUNE_KILL_EARLY_DIR"); dir != "" {
		tuner := Tuner{
			Trainable: func(tc Context, c Config) error {
				if err := tc.Report(map[string]float64{"loss": 1}, nil); err != nil {
					return err
				}
				os.WriteFile(filepath.Join(dir, "reported"), nil, 0o644)
				<-tc.Done()
				return tc.Err()
			},
			ParamSpace: space,
			TuneConfig: TuneConfig{Metric: "loss", Mode: "min", MaxConcurrentTrials: 3},
			RunConfig:  RunConfig{StoragePath: dir, Name: "early"},
		}
		tuner.Fit(context.Background()) // blocks until killed
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	killChild(t, "TestRestoreRightAfterStart", []string{"TUNE_KILL_EARLY_DIR=" + dir}, func() bool {
		_, err := os.Stat(filepath.Join(dir, "reported"))
		return err == nil
	})
	tuner, err := Restore(filepath.Join(dir, "early"), func(tc Context, c Config) error {
		return tc.Report(map[string]float64{"loss": 1}, nil)
	})
	if err != nil {
		t.Fatalf("restore right after the start: %v", err)
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 3 {
		t.Errorf("restored experiment has %d trials, want 3", g.Len())
	}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated || r.Metrics["training_iteration"] != 1 {
			t.Errorf("trial %s: %s at iteration %v", r.TrialID, r.Status, r.Metrics["training_iteration"])
		}
	}
}

// TestReportCopiesCheckpointInTrialDir: a checkpoint the trainable writes
// inside its trial directory is copied by Report, so deleting it afterwards
// (as Report's docs allow) breaks neither a retry that resumes from it nor
// the result's checkpoint.
func TestReportCopiesCheckpointInTrialDir(t *testing.T) {
	var runs runCounter
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			runs.add(tc.TrialID())
			start, _ := strconv.Atoi(loadState(tc))
			for step := start + 1; step <= 4; step++ {
				ck, err := checkpoint.New(filepath.Join(tc.TrialDir(), "mine"), checkpoint.Metadata{Framework: "tune-test"})
				if err != nil {
					return err
				}
				if err := ck.WriteFile("state", []byte(strconv.Itoa(step))); err != nil {
					return err
				}
				err = tc.Report(map[string]float64{"loss": 1 / float64(step)}, ck)
				if rmErr := os.RemoveAll(ck.Path()); rmErr != nil {
					return rmErr
				}
				if err != nil {
					return err
				}
				if step == 2 && runs.get(tc.TrialID()) == 1 {
					return errors.New("injected failure after iteration 2")
				}
			}
			return nil
		},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min", NumSamples: 2},
		RunConfig:  RunConfig{StoragePath: t.TempDir(), Name: "copy", FailureConfig: FailureConfig{MaxFailures: 1}},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated || r.Metrics["training_iteration"] != 4 {
			t.Errorf("trial %s: %s at iteration %v, error %v", r.TrialID, r.Status, r.Metrics["training_iteration"], r.Err)
			continue
		}
		if r.Checkpoint == nil {
			t.Errorf("trial %s has no checkpoint", r.TrialID)
			continue
		}
		if b, err := r.Checkpoint.ReadFile("state"); err != nil || string(b) != "4" {
			t.Errorf("trial %s checkpoint %s: state %q, %v", r.TrialID, r.Checkpoint.Path(), b, err)
		}
	}
}
