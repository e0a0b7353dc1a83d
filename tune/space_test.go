package tune

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/goray/goray/core"
)

// suggestAll runs a searcher to exhaustion, as the tuner does.
func suggestAll(t *testing.T, s Searcher, space map[string]any, samples int, seed int64) []Config {
	t.Helper()
	if err := s.Setup(Config(space), SearchOptions{NumSamples: samples, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	var out []Config
	for i := 0; ; i++ {
		c, err := s.Suggest(fmt.Sprint(i))
		if errors.Is(err, ErrSearchFinished) {
			return out
		}
		if err != nil || c == nil {
			t.Fatalf("suggest %d: %v, %v", i, c, err)
		}
		out = append(out, c)
	}
}

func TestGridIsExactProduct(t *testing.T) {
	space := map[string]any{
		"a":      GridSearch(1, 2, 3),
		"nested": map[string]any{"b": GridSearch("x", "y"), "c": Uniform(0, 1)},
		"d":      "constant",
	}
	cfgs := suggestAll(t, &BasicVariantGenerator{}, space, 2, 7)
	if len(cfgs) != 3*2*2 {
		t.Fatalf("got %d configs, want 12 (3x2 grid, 2 samples)", len(cfgs))
	}
	seen := map[string]int{}
	for _, c := range cfgs {
		a, _ := c.Int("a")
		b, _ := c.String("nested/b")
		u, _ := c.Float("nested/c")
		if u < 0 || u >= 1 || c["d"] != "constant" {
			t.Errorf("bad config %v", c)
		}
		seen[fmt.Sprint(a, b)]++
	}
	if len(seen) != 6 {
		t.Errorf("got %d distinct grid points, want 6: %v", len(seen), seen)
	}
	for k, n := range seen {
		if n != 2 {
			t.Errorf("grid point %s sampled %d times, want 2", k, n)
		}
	}
}

func TestSeededRandomReproduces(t *testing.T) {
	space := map[string]any{
		"lr":     LogUniform(1e-4, 1e-1),
		"layers": RandInt(1, 9),
		"act":    Choice("relu", "tanh"),
		"q":      QUniform(0, 10, 0.5),
		"qi":     QRandInt(2, 20, 4),
		"n":      RandN(5, 2),
		"g":      GridSearch(1, 2),
		"nested": map[string]any{"u": Uniform(-1, 1)},
	}
	a := suggestAll(t, &BasicVariantGenerator{}, space, 10, 42)
	b := suggestAll(t, &BasicVariantGenerator{}, space, 10, 42)
	c := suggestAll(t, &BasicVariantGenerator{}, space, 10, 43)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed gave different configs")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same configs")
	}
	for _, cfg := range a {
		lr, _ := cfg.Float("lr")
		layers, _ := cfg.Int("layers")
		q, _ := cfg.Float("q")
		qi, _ := cfg.Int("qi")
		if lr < 1e-4 || lr >= 1e-1 || layers < 1 || layers > 8 || math.Mod(q, 0.5) != 0 || q < 0 || q > 10 ||
			qi%4 != 0 || qi < 4 || qi > 20 {
			t.Errorf("value out of its domain: %v", cfg)
		}
	}
}

func TestRandIntCoversRangeExcludingUpper(t *testing.T) {
	cfgs := suggestAll(t, &BasicVariantGenerator{}, map[string]any{"d": RandInt(1, 9)}, 400, 1)
	seen := map[int]bool{}
	for _, c := range cfgs {
		d, _ := c.Int("d")
		seen[d] = true
	}
	var got []int
	for d := range seen {
		got = append(got, d)
	}
	sort.Ints(got)
	if !reflect.DeepEqual(got, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("RandInt(1, 9) gave %v, want 1..8", got)
	}
}

func TestSampleFromSeesResolvedConfig(t *testing.T) {
	space := map[string]any{
		"width": Choice(2, 4, 8),
		"depth": SampleFrom(func(c Config) any { w, _ := c.Int("width"); return w * 10 }),
	}
	for _, c := range suggestAll(t, &BasicVariantGenerator{}, space, 5, 3) {
		if c["depth"] != c["width"].(int)*10 {
			t.Errorf("depth %v, width %v", c["depth"], c["width"])
		}
	}
}

func TestBadInput(t *testing.T) {
	noop := func(tc Context, c Config) error { return tc.Report(map[string]float64{"other": 1}, nil) }
	cases := map[string]struct {
		tuner Tuner
		want  string
	}{
		"empty grid": {Tuner{Trainable: noop, ParamSpace: map[string]any{"x": GridSearch()}}, `"x": GridSearch() has no values`},
		"empty choice": {Tuner{Trainable: noop, ParamSpace: map[string]any{"n": map[string]any{"y": Choice()}}},
			`"n/y": Choice() has no values`},
		"uniform 5 1": {Tuner{Trainable: noop, ParamSpace: map[string]any{"lr": Uniform(5, 1)}},
			`"lr": Uniform(5, 1): lower bound 5 must be less than upper bound 1`},
		"loguniform 0":  {Tuner{Trainable: noop, ParamSpace: map[string]any{"lr": LogUniform(0, 1)}}, "must be positive"},
		"randint empty": {Tuner{Trainable: noop, ParamSpace: map[string]any{"d": RandInt(3, 3)}}, "RandInt(3, 3)"},
		"mode avg": {Tuner{Trainable: noop, TuneConfig: TuneConfig{Metric: "loss", Mode: "avg"}},
			`TuneConfig.Mode "avg": must be "min" or "max"`},
		"metric never reported": {Tuner{Trainable: noop, TuneConfig: TuneConfig{Metric: "loss", Mode: "min"}},
			`trial 00000 reported [iterations_since_restore other time_this_iter_s time_total_s timestamp training_iteration] without TuneConfig.Metric "loss"`},
		"nil trainable":  {Tuner{}, "Trainable is nil"},
		"bad trainable":  {Tuner{Trainable: 3}, "Trainable is int"},
		"asha no metric": {Tuner{Trainable: noop, TuneConfig: TuneConfig{Scheduler: &ASHAScheduler{}}}, "scheduler needs TuneConfig.Metric"},
		"too many cpus": {Tuner{Trainable: WithResources(noop, Resources{CPU: 64})},
			"a trial needs 64 CPU but the core runtime has 4"},
	}
	existing := t.TempDir()
	if _, err := (&Tuner{Trainable: noop, RunConfig: RunConfig{StoragePath: existing, Name: "x"}}).Fit(t.Context()); err != nil {
		t.Fatal(err)
	}
	cases["existing experiment"] = struct {
		tuner Tuner
		want  string
	}{Tuner{Trainable: noop, RunConfig: RunConfig{StoragePath: existing, Name: "x"}}, "already holds an experiment"}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.tuner.RunConfig.StoragePath == "" {
				tc.tuner.RunConfig.StoragePath = t.TempDir()
			}
			_, err := tc.tuner.Fit(t.Context())
			if !errors.Is(err, ErrInvalidInput) || !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestSeededSweepReproduces(t *testing.T) {
	configs := func(seed int64) []Config {
		tuner := Tuner{
			Trainable:  func(tc Context, c Config) error { return tc.Report(map[string]float64{"x": 1}, nil) },
			ParamSpace: map[string]any{"lr": LogUniform(1e-4, 1), "d": RandInt(1, 9), "g": GridSearch("a", "b")},
			TuneConfig: TuneConfig{NumSamples: 4, Seed: seed},
			RunConfig:  RunConfig{StoragePath: t.TempDir()},
		}
		g, err := tuner.Fit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []Config
		for _, r := range g.Results() {
			out = append(out, r.Config)
		}
		return out
	}
	a, b := configs(5), configs(5)
	if len(a) != 8 || !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different sweeps:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, configs(6)) {
		t.Error("different seeds, same sweep")
	}
}
