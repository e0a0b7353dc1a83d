package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/goray/goray/checkpoint"
)

// saveStep writes a checkpoint holding the trial's state into its
// directory (Report then keeps it in place).
func saveStep(tc Context, state string) (*checkpoint.Checkpoint, error) {
	ck, err := checkpoint.New(filepath.Join(tc.TrialDir(), fmt.Sprintf("ckpt_%d", tc.Iteration()+1)),
		checkpoint.Metadata{Framework: "tune-test"})
	if err != nil {
		return nil, err
	}
	return ck, ck.WriteFile("state", []byte(state))
}

func loadState(tc Context) string {
	if ck := tc.Checkpoint(); ck != nil {
		b, err := ck.ReadFile("state")
		if err == nil {
			return string(b)
		}
	}
	return ""
}

// curve is a trainable with a known learning curve: loss(t) = a + 1/t, so
// trials rank by a at every iteration. It resumes from its checkpoint.
func curve(maxT int) TrainableFunc {
	return func(tc Context, c Config) error {
		a, err := c.Float("a")
		if err != nil {
			return err
		}
		start, _ := strconv.Atoi(loadState(tc))
		for step := start + 1; step <= maxT; step++ {
			ck, err := saveStep(tc, strconv.Itoa(step))
			if err != nil {
				return err
			}
			if err := tc.Report(map[string]float64{"loss": a + 1/float64(step)}, ck); err != nil {
				return err
			}
		}
		return nil
	}
}

// shuffledGrid returns n values 0.1, 0.2, ... in a seeded random order.
func shuffledGrid(n int) []any {
	v := make([]any, n)
	for i := range v {
		v[i] = 0.1 * float64(i+1)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(i, j int) { v[i], v[j] = v[j], v[i] })
	return v
}

func totalIterations(g *ResultGrid) int {
	n := 0
	for _, r := range g.Results() {
		n += len(r.MetricsHistory)
	}
	return n
}

func TestEarlyStoppingFindsBestWithHalfTheBudget(t *testing.T) {
	const trials, maxT = 27, 27
	run := func(name string, s Scheduler) (*ResultGrid, Result) {
		tuner := Tuner{
			Trainable:  WithResources(curve(maxT), Resources{CPU: 1}),
			ParamSpace: map[string]any{"a": GridSearch(shuffledGrid(trials)...)},
			TuneConfig: TuneConfig{Metric: "loss", Mode: "min", Scheduler: s, Seed: 1},
			RunConfig:  RunConfig{StoragePath: t.TempDir(), Name: name},
		}
		g, err := tuner.Fit(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if errs := g.Errors(); len(errs) > 0 {
			t.Fatalf("%s: trial errors: %v", name, errs)
		}
		best, err := g.GetBestResult("", "", "last")
		if err != nil {
			t.Fatal(err)
		}
		return g, best
	}
	fifo, fifoBest := run("fifo", nil)
	fifoIters := totalIterations(fifo)
	if fifoIters != trials*maxT {
		t.Fatalf("FIFO ran %d iterations, want %d", fifoIters, trials*maxT)
	}
	for name, s := range map[string]Scheduler{
		"asha":      &ASHAScheduler{MaxT: maxT, GracePeriod: 1, ReductionFactor: 3},
		"hyperband": &HyperBandScheduler{MaxT: maxT, ReductionFactor: 3},
	} {
		g, best := run(name, s)
		iters := totalIterations(g)
		t.Logf("%s: %d iterations (FIFO %d), best a=%v", name, iters, fifoIters, best.Config["a"])
		if best.Config["a"] != fifoBest.Config["a"] || best.Config["a"] != 0.1 {
			t.Errorf("%s found a=%v, FIFO a=%v, want 0.1", name, best.Config["a"], fifoBest.Config["a"])
		}
		if iters*2 > fifoIters {
			t.Errorf("%s spent %d iterations, more than half of FIFO's %d", name, iters, fifoIters)
		}
		if n := len(best.MetricsHistory); n != maxT {
			t.Errorf("%s: the best trial ran %d iterations, want %d", name, n, maxT)
		}
		for i, m := range best.MetricsHistory { // resumed without repeating work
			if int(m["training_iteration"]) != i+1 {
				t.Fatalf("%s: result %d has training_iteration %v", name, i, m["training_iteration"])
			}
		}
	}
}

func TestMedianStoppingStopsBadTrials(t *testing.T) {
	tuner := Tuner{
		Trainable:  curve(20),
		ParamSpace: map[string]any{"a": GridSearch(shuffledGrid(12)...)},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min", MaxConcurrentTrials: 1,
			Scheduler: &MedianStoppingRule{GracePeriod: 2}},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "median"},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	best, _ := g.GetBestResult("", "", "")
	if best.Config["a"] != 0.1 {
		t.Errorf("best a=%v, want 0.1", best.Config["a"])
	}
	if n := totalIterations(g); n >= 12*20 {
		t.Errorf("median stopping stopped nothing: %d iterations", n)
	}
}

// drift is a problem whose best lr changes as training progresses: the
// score x grows by 1/(1+2|log10(lr)-log10(opt(x))|) per step, with
// opt(x) = 0.1, 0.01, 0.001 for x in [0,10), [10,20), [20,∞).
func drift(steps int) TrainableFunc {
	return func(tc Context, c Config) error {
		lr, err := c.Float("lr")
		if err != nil {
			return err
		}
		x, _ := strconv.ParseFloat(loadState(tc), 64)
		for tc.Iteration() < steps {
			opt := -1 - math.Min(math.Floor(x/10), 2)
			x += 1 / (1 + 2*math.Abs(math.Log10(lr)-opt))
			ck, err := saveStep(tc, strconv.FormatFloat(x, 'g', -1, 64))
			if err != nil {
				return err
			}
			if err := tc.Report(map[string]float64{"score": x}, ck); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestPBTBeatsBestFixedConfig(t *testing.T) {
	const steps = 30
	lrs := []any{0.1, 0.0316, 0.01, 0.00316, 0.001}
	fixed := Tuner{
		Trainable:  WithResources(drift(steps), Resources{}),
		ParamSpace: map[string]any{"lr": GridSearch(lrs...)},
		TuneConfig: TuneConfig{Metric: "score", Mode: "max"},
		RunConfig:  RunConfig{StoragePath: t.TempDir(), Name: "fixed"},
	}
	g, err := fixed.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bestFixed, _ := g.GetBestResult("", "", "")
	pbt := &PopulationBasedTraining{PerturbationInterval: 2, QuantileFraction: 0.25, Synch: true,
		HyperparamMutations: map[string]any{"lr": lrs}}
	tuner := Tuner{
		Trainable:  WithResources(drift(steps), Resources{}),
		ParamSpace: map[string]any{"lr": Choice(lrs...)},
		TuneConfig: TuneConfig{Metric: "score", Mode: "max", NumSamples: 8, MaxConcurrentTrials: 8,
			Scheduler: pbt, Seed: 5},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "pbt"},
	}
	g, err = tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if errs := g.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	best, _ := g.GetBestResult("", "", "")
	t.Logf("best fixed lr=%v score %.2f; PBT score %.2f (final lr %v) after %d exploits",
		bestFixed.Config["lr"], bestFixed.Metrics["score"], best.Metrics["score"], best.Config["lr"], pbt.Exploits)
	if best.Metrics["training_iteration"] != steps {
		t.Errorf("PBT best trial at iteration %v, want %d", best.Metrics["training_iteration"], steps)
	}
	if !(best.Metrics["score"] > bestFixed.Metrics["score"]+2) {
		t.Errorf("PBT score %.2f does not beat the best fixed config's %.2f", best.Metrics["score"], bestFixed.Metrics["score"])
	}
}
