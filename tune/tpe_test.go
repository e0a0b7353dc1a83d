package tune

import (
	"fmt"
	"math"
	"testing"
)

// quadratic is a known function with its minimum 0 at x=0.7, y=-2.3, opt="b".
func quadratic(c Config) float64 {
	x, _ := c.Float("x")
	y, _ := c.Float("y")
	v := (x-0.7)*(x-0.7) + (y+2.3)*(y+2.3)
	if o, _ := c.String("opt"); o != "b" {
		v += 3
	}
	return v
}

// bestOf runs a searcher for budget trials one at a time on f and returns
// the best value found.
func bestOf(t *testing.T, s Searcher, budget int, seed int64, f func(Config) float64) float64 {
	t.Helper()
	space := Config{"x": Uniform(-10, 10), "y": Uniform(-10, 10), "opt": Choice("a", "b", "c", "d")}
	if err := s.Setup(space, SearchOptions{Metric: "loss", Mode: "min", NumSamples: budget, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	best := math.Inf(1)
	for i := range budget {
		id := fmt.Sprint(i)
		c, err := s.Suggest(id)
		if err != nil || c == nil {
			t.Fatalf("suggest %d: %v %v", i, c, err)
		}
		v := f(c)
		best = min(best, v)
		s.OnTrialComplete(id, map[string]float64{"loss": v}, nil)
	}
	return best
}

func TestTPEBeatsRandom(t *testing.T) {
	const seeds, budget = 20, 60
	var tpe, rnd float64
	for seed := int64(1); seed <= seeds; seed++ {
		tpe += bestOf(t, &TPESearch{}, budget, seed, quadratic) / seeds
		rnd += bestOf(t, &BasicVariantGenerator{}, budget, seed, quadratic) / seeds
	}
	t.Logf("mean best over %d seeds, %d trials: TPE %.4f, random %.4f", seeds, budget, tpe, rnd)
	if !(tpe < rnd/2) {
		t.Errorf("TPE mean best %.4f is not clearly better than random %.4f", tpe, rnd)
	}
}
