package tune

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/train"
)

var errBoom = errors.New("boom")

// errBoom keeps its identity when it comes back from a trial's actor in
// another process (or through the codec, with GORAY_ENCODE_ALL=1).
func init() { core.RegisterError("tune.errBoom", errBoom) }

func TestFailingTrialDoesNotStopTheSweep(t *testing.T) {
	var attempts sync.Map // trial id -> *atomic.Int32
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			n, _ := attempts.LoadOrStore(tc.TrialID(), new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			if c["bad"] == true {
				if err := tc.Report(map[string]float64{"loss": 100}, nil); err != nil {
					return err
				}
				return errBoom
			}
			if c["panic"] == true {
				panic("trainable panicked")
			}
			for i := range 5 {
				if err := tc.Report(map[string]float64{"loss": float64(5 - i)}, nil); err != nil {
					return err
				}
			}
			return nil
		},
		ParamSpace: map[string]any{"bad": GridSearch(false, true, false), "panic": GridSearch(false, true)},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min"},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "fail",
			FailureConfig: FailureConfig{MaxFailures: 2}},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 6 {
		t.Fatalf("got %d trials, want 6", g.Len())
	}
	errs := g.Errors()
	if len(errs) != 4 { // bad=true (2) and panic=true (2, one of them also bad)
		t.Fatalf("got %d errors, want 4: %v", len(errs), errs)
	}
	var sawBoom, sawPanic bool
	for _, r := range g.Results() {
		n, _ := attempts.Load(r.TrialID)
		switch {
		case r.Status == StatusError:
			if got := n.(*atomic.Int32).Load(); got != 3 {
				t.Errorf("trial %s ran %d times, want 3 (1 + MaxFailures 2)", r.TrialID, got)
			}
			sawBoom = sawBoom || errors.Is(r.Err, errBoom)
			sawPanic = sawPanic || strings.Contains(r.Err.Error(), "trainable panicked")
		case r.Status == StatusTerminated:
			if r.Metrics["loss"] != 1 || n.(*atomic.Int32).Load() != 1 {
				t.Errorf("good trial %s: loss %v after %d runs", r.TrialID, r.Metrics["loss"], n.(*atomic.Int32).Load())
			}
		default:
			t.Errorf("trial %s ended %s", r.TrialID, r.Status)
		}
	}
	if !sawBoom || !sawPanic {
		t.Errorf("errors do not carry their cause (boom %v, panic %v): %v", sawBoom, sawPanic, errs)
	}
	best, err := g.GetBestResult("", "", "")
	if err != nil || best.Metrics["loss"] != 1 {
		t.Errorf("best %v, %v", best.Metrics, err)
	}
}

func TestFailFastEndsTheExperiment(t *testing.T) {
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error { return errBoom },
		RunConfig: RunConfig{StoragePath: t.TempDir(), FailureConfig: FailureConfig{FailFast: true}},
	}
	if _, err := tuner.Fit(t.Context()); !errors.Is(err, errBoom) {
		t.Fatalf("got %v, want FailFast error wrapping the trial's", err)
	}
}

func TestStopConditionsAndIterations(t *testing.T) {
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			for i := 0; ; i++ {
				if err := tc.Report(map[string]float64{"acc": float64(i) / 10}, nil); err != nil {
					return err
				}
			}
		},
		ParamSpace: map[string]any{"x": GridSearch(1, 2)},
		RunConfig: RunConfig{StoragePath: t.TempDir(),
			Stop: map[string]float64{"training_iteration": 7, "acc": 100}},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated || r.Metrics["training_iteration"] != 7 {
			t.Errorf("trial %s: %s at iteration %v, want TERMINATED at 7", r.TrialID, r.Status, r.Metrics["training_iteration"])
		}
	}
}

func TestTimeBudgetStopsRunningTrials(t *testing.T) {
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			if err := tc.Report(map[string]float64{"x": 1}, nil); err != nil {
				return err
			}
			<-tc.Done() // runs until the budget ends it
			return tc.Err()
		},
		TuneConfig: TuneConfig{NumSamples: 3, TimeBudget: 1},
		RunConfig:  RunConfig{StoragePath: t.TempDir()},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.Results() {
		if r.Status != StatusTerminated || r.Err != nil {
			t.Errorf("trial %s: %s %v", r.TrialID, r.Status, r.Err)
		}
	}
}

func TestTrialsHoldTheirResources(t *testing.T) {
	var running, peak atomic.Int32
	gate := make(chan struct{})
	var once sync.Once
	tuner := Tuner{
		Trainable: WithResources(func(tc Context, c Config) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if n == 2 {
				once.Do(func() { close(gate) })
			}
			<-gate // the first two trials wait for each other
			return tc.Report(map[string]float64{"x": 1}, nil)
		}, Resources{CPU: 2}),
		TuneConfig: TuneConfig{NumSamples: 6, MaxConcurrentTrials: 6}, // core allows 4/2 = 2
		RunConfig:  RunConfig{StoragePath: t.TempDir()},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Errors()) > 0 {
		t.Fatal(g.Errors())
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2 (4 CPUs / 2 per trial)", p)
	}
}

func TestTrialFiles(t *testing.T) {
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			for i := range 4 {
				ck, err := checkpoint.New(filepath.Join(t.TempDir(), "ck"), checkpoint.Metadata{Framework: "test"})
				if err != nil {
					return err
				}
				if err := tc.Report(map[string]float64{"loss": float64(10 - i)}, ck); err != nil {
					return err
				}
			}
			return nil
		},
		ParamSpace: map[string]any{"lr": Choice(0.1), "params": map[string]any{"max_depth": RandInt(3, 4)}},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min"},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "files",
			CheckpointConfig: CheckpointConfig{NumToKeep: 2}},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := g.Get(0)
	var params map[string]any
	b, err := os.ReadFile(filepath.Join(r.Path, "params.json"))
	if err != nil || json.Unmarshal(b, &params) != nil {
		t.Fatalf("params.json: %s %v", b, err)
	}
	if params["lr"] != 0.1 || params["params"].(map[string]any)["max_depth"] != 3.0 {
		t.Errorf("params.json = %v", params)
	}
	hist, err := readResults(filepath.Join(r.Path, "result.json"))
	if err != nil || len(hist) != 4 || hist[3]["loss"] != 7 || hist[3]["training_iteration"] != 4 {
		t.Errorf("result.json: %v %v", hist, err)
	}
	f, err := os.Open(filepath.Join(r.Path, "progress.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 5 || !strings.Contains(strings.Join(rows[0], ","), "loss") {
		t.Errorf("progress.csv: %v %v", rows, err)
	}
	ckpts, _ := filepath.Glob(filepath.Join(r.Path, "checkpoint_*"))
	if len(ckpts) != 2 || r.Checkpoint == nil || filepath.Base(r.Checkpoint.Path()) != "checkpoint_000004" {
		t.Errorf("kept checkpoints %v, latest %v; want 2 kept, checkpoint_000004", ckpts, r.Checkpoint)
	}
	var buf bytes.Buffer
	if err := g.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	out, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(out) != 2 || !strings.Contains(strings.Join(out[0], ","), "config/params/max_depth") {
		t.Errorf("grid CSV: %v %v", out, err)
	}
}

func TestConsoleOutput(t *testing.T) {
	run := func(verbose int) string {
		var buf bytes.Buffer
		tuner := Tuner{
			Trainable:  func(tc Context, c Config) error { return tc.Report(map[string]float64{"loss": 1}, nil) },
			ParamSpace: map[string]any{"x": GridSearch(1, 2, 3)},
			TuneConfig: TuneConfig{Metric: "loss", Mode: "min"},
			RunConfig:  RunConfig{StoragePath: t.TempDir(), Verbose: verbose, Progress: &buf},
		}
		if _, err := tuner.Fit(t.Context()); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if out := run(VerboseQuiet); out != "" {
		t.Errorf("quiet printed %q", out)
	}
	table := run(VerboseTable)
	for _, want := range []string{"3 TERMINATED", "Trial  Status", "00002  TERMINATED  3  1     1", "Current best trial"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "iter 1 loss=1") {
		t.Errorf("level 1 printed result lines:\n%s", table)
	}
	if detail := run(VerboseDetail); !strings.Contains(detail, "Trial 00001 iter 1 loss=1") ||
		!strings.Contains(detail, "RUNNING -> TERMINATED") {
		t.Errorf("verbose output lacks result and status lines:\n%s", detail)
	}
}

// fakeTrainer is a train.Trainer that implements ConfigurableTrainer and
// ReportingTrainer the way the GBDT trainer is meant to.
type fakeTrainer struct {
	params map[string]any
	report func(map[string]float64, *checkpoint.Checkpoint) error
	resume *checkpoint.Checkpoint
	dir    string
}

func (f *fakeTrainer) WithResumeFrom(ck *checkpoint.Checkpoint) train.Trainer {
	g := *f
	g.resume = ck
	return &g
}

func (f *fakeTrainer) WithConfig(c map[string]any) (train.Trainer, error) {
	g := *f
	g.params = map[string]any{"eta": 0.3, "max_depth": 6}
	if p, ok := c["params"].(map[string]any); ok {
		for k, v := range p {
			g.params[k] = v
		}
	}
	return &g, nil
}

func (f *fakeTrainer) WithReporter(r func(map[string]float64, *checkpoint.Checkpoint) error) train.Trainer {
	g := *f
	g.report = r
	return &g
}

func (f *fakeTrainer) TrialResources() Resources { return Resources{CPU: 2} }

func (f *fakeTrainer) Fit(ctx context.Context) (*train.Result, error) {
	depth := f.params["max_depth"].(int)
	var last map[string]float64
	start := 1
	if f.resume != nil {
		r, _ := f.resume.Metadata().Extra["round"].(float64)
		start = int(r) + 1
	}
	for round := start; round <= 10; round++ {
		// The loss is lowest for max_depth 4.
		last = map[string]float64{"train-logloss": float64((depth-4)*(depth-4)) + 1/float64(round)}
		ck, err := checkpoint.New(filepath.Join(f.dir, fmt.Sprint(depth, "_", round)),
			checkpoint.Metadata{Framework: "fake", Extra: map[string]any{"max_depth": depth, "eta": f.params["eta"], "round": round}})
		if err != nil {
			return nil, err
		}
		if f.report != nil {
			if err := f.report(last, ck); err != nil {
				return nil, err
			}
		}
	}
	return &train.Result{Metrics: last}, nil
}

func TestTrainerTrainable(t *testing.T) {
	tuner := Tuner{
		Trainable:  &fakeTrainer{dir: t.TempDir()},
		ParamSpace: map[string]any{"params": map[string]any{"max_depth": RandInt(1, 9)}},
		TuneConfig: TuneConfig{Metric: "train-logloss", Mode: "min", NumSamples: 12, Seed: 3,
			Scheduler: &HyperBandScheduler{MaxT: 9, ReductionFactor: 3}},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "gbdt"},
	}
	g, err := tuner.Fit(t.Context())
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
	if best.Checkpoint == nil {
		t.Fatal("best result has no checkpoint")
	}
	extra := best.Checkpoint.Metadata().Extra
	depth, _ := best.Config.Int("params/max_depth")
	if fmt.Sprint(extra["max_depth"]) != fmt.Sprint(depth) || fmt.Sprint(extra["eta"]) != "0.3" {
		t.Errorf("checkpoint was trained with %v, config %v: the config did not deep-merge", extra, best.Config)
	}
	closest := 100
	for _, r := range g.Results() {
		d, _ := r.Config.Int("params/max_depth")
		if abs(d-4) < abs(closest-4) {
			closest = d
		}
		for i, m := range r.MetricsHistory {
			if int(m["training_iteration"]) != i+1 {
				t.Fatalf("trial %s result %d is iteration %v: the trainer did not resume", r.TrialID, i, m["training_iteration"])
			}
		}
	}
	if depth != closest {
		t.Errorf("best max_depth %d, want %d (results %v)", depth, closest, best.Metrics)
	}
	if n := totalIterations(g); n >= 12*10 {
		t.Errorf("HyperBand saw %d iterations: per-iteration reports did not reach it", n)
	}
}

func TestTPEThroughTuner(t *testing.T) {
	tuner := Tuner{
		Trainable: WithResources(func(tc Context, c Config) error {
			return tc.Report(map[string]float64{"loss": quadratic(c)}, nil)
		}, Resources{CPU: 1}),
		ParamSpace: map[string]any{"x": Uniform(-10, 10), "y": Uniform(-10, 10), "opt": Choice("a", "b", "c", "d")},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min", NumSamples: 40, Seed: 9,
			SearchAlg: ConcurrencyLimiter(&TPESearch{}, 2)},
		RunConfig: RunConfig{StoragePath: t.TempDir()},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 40 {
		t.Fatalf("%d trials, want 40", g.Len())
	}
	best, _ := g.GetBestResult("", "", "")
	t.Logf("TPE best loss %.3f at %v", best.Metrics["loss"], best.Config)
}

func TestGetBestResultScopes(t *testing.T) {
	h := func(vs ...float64) []map[string]float64 {
		var out []map[string]float64
		for _, v := range vs {
			out = append(out, map[string]float64{"m": v})
		}
		return out
	}
	g := &ResultGrid{results: []Result{
		{TrialID: "a", MetricsHistory: h(0, 9, 9)},
		{TrialID: "b", MetricsHistory: h(5, 5, 5)},
		{TrialID: "c", MetricsHistory: h(3, 1, 6)},
	}}
	for scope, want := range map[string]string{"last": "b", "avg": "c", "all": "a", "last-5-avg": "c"} {
		r, err := g.GetBestResult("m", "min", scope)
		if err != nil || r.TrialID != want {
			t.Errorf("scope %s: got %s %v, want %s", scope, r.TrialID, err, want)
		}
	}
	if _, err := g.GetBestResult("nope", "min", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing metric: %v", err)
	}
	if _, err := g.GetBestResult("m", "median", ""); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("bad mode: %v", err)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func countLines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}
