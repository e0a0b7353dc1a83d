package tune

import (
	"math/rand/v2"
)

// SearchOptions is what a Searcher learns about the experiment in Setup.
type SearchOptions struct {
	// Metric and Mode ("min" or "max") are TuneConfig's.
	Metric, Mode string
	// NumSamples is TuneConfig.NumSamples (at least 1).
	NumSamples int
	// Seed is TuneConfig.Seed (a random one when it was 0).
	Seed int64
}

// Searcher suggests trial configurations. The tuner calls every method from
// one goroutine. A Searcher value serves one experiment.
type Searcher interface {
	// Setup is called once, before the first Suggest, with the validated
	// param space.
	Setup(space Config, opts SearchOptions) error
	// Suggest returns the config of a new trial; nil with a nil error when
	// it has none right now (it is asked again after the next result or
	// completion), ErrSearchFinished when it never will. Unless the searcher
	// is the default BasicVariantGenerator (which runs every grid
	// combination NumSamples times), the tuner asks for NumSamples trials
	// in all.
	Suggest(trialID string) (Config, error)
	// OnTrialResult passes every intermediate result of a trial.
	OnTrialResult(trialID string, metrics map[string]float64)
	// OnTrialComplete reports that a trial ended, with its last result
	// (nil if it reported none) and its error (nil if it finished or was
	// stopped by the scheduler).
	OnTrialComplete(trialID string, metrics map[string]float64, err error)
}

// selfLimiting is implemented by searchers that decide the number of
// trials themselves (grid × NumSamples) instead of the tuner's NumSamples.
type selfLimiting interface{ limitsSamples() bool }

// exhaustible is implemented by searchers that know when they have
// suggested their last trial, so the tuner need not ask once more.
type exhaustible interface{ exhausted() bool }

// trialRestorer is implemented by searchers that can rebuild their state
// from the trials of a restored experiment, in creation order.
type trialRestorer interface {
	restoreTrial(trialID string, config Config, metrics map[string]float64, finished bool)
}

// BasicVariantGenerator is the default searcher: it runs every combination
// of the GridSearch dimensions NumSamples times, sampling the other domains
// at random. With the same seed it suggests the same configs in the same
// order.
type BasicVariantGenerator struct {
	// Seed overrides TuneConfig.Seed when not 0.
	Seed int64

	space  Config
	grid   []spaceLeaf
	combos int
	total  int
	next   int
	rng    *rand.Rand
}

var _ Searcher = (*BasicVariantGenerator)(nil)

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// Setup implements Searcher.
func (g *BasicVariantGenerator) Setup(space Config, opts SearchOptions) error {
	if err := validateSpace(space); err != nil {
		return err
	}
	g.space = space
	g.grid, g.combos = gridPoints(space)
	g.total = g.combos * max(opts.NumSamples, 1)
	seed := g.Seed
	if seed == 0 {
		seed = opts.Seed
	}
	g.rng = newRand(seed)
	return nil
}

// Total returns the number of trials the generator will suggest.
func (g *BasicVariantGenerator) Total() int { return g.total }

// Suggest implements Searcher: sample i uses grid combination i mod the
// number of combinations, so each repetition walks the whole grid.
func (g *BasicVariantGenerator) Suggest(string) (Config, error) {
	if g.next >= g.total {
		return nil, ErrSearchFinished
	}
	c := gridCombination(g.space, g.grid, g.next%g.combos)
	g.next++
	return resolve(c, g.rng), nil
}

// OnTrialResult implements Searcher.
func (g *BasicVariantGenerator) OnTrialResult(string, map[string]float64) {}

// OnTrialComplete implements Searcher.
func (g *BasicVariantGenerator) OnTrialComplete(string, map[string]float64, error) {}

func (g *BasicVariantGenerator) limitsSamples() bool { return true }

func (g *BasicVariantGenerator) exhausted() bool { return g.next >= g.total }

func (g *BasicVariantGenerator) restoreTrial(string, Config, map[string]float64, bool) {
	_, _ = g.Suggest("") // replay the sample to keep the random stream in step
}

// ConcurrencyLimiter lets at most max trials suggested by s be unfinished
// at a time: model-based searchers (TPE) then learn from results before
// suggesting more.
func ConcurrencyLimiter(s Searcher, max int) Searcher {
	return &limiter{inner: s, max: max, live: map[string]bool{}}
}

type limiter struct {
	inner Searcher
	max   int
	live  map[string]bool
}

func (l *limiter) Setup(space Config, opts SearchOptions) error {
	if l.inner == nil {
		return invalid("ConcurrencyLimiter: nil searcher")
	}
	if l.max < 1 {
		return invalid("ConcurrencyLimiter: max %d must be at least 1", l.max)
	}
	return l.inner.Setup(space, opts)
}

func (l *limiter) Suggest(id string) (Config, error) {
	if len(l.live) >= l.max {
		return nil, nil
	}
	c, err := l.inner.Suggest(id)
	if err == nil && c != nil {
		l.live[id] = true
	}
	return c, err
}

func (l *limiter) OnTrialResult(id string, m map[string]float64) { l.inner.OnTrialResult(id, m) }

func (l *limiter) OnTrialComplete(id string, m map[string]float64, err error) {
	delete(l.live, id)
	l.inner.OnTrialComplete(id, m, err)
}

func (l *limiter) limitsSamples() bool {
	s, ok := l.inner.(selfLimiting)
	return ok && s.limitsSamples()
}

func (l *limiter) exhausted() bool {
	e, ok := l.inner.(exhaustible)
	return ok && e.exhausted()
}

func (l *limiter) restoreTrial(id string, c Config, m map[string]float64, finished bool) {
	if !finished {
		l.live[id] = true
	}
	if r, ok := l.inner.(trialRestorer); ok {
		r.restoreTrial(id, c, m, finished)
	} else if finished {
		l.inner.OnTrialComplete(id, m, nil)
	}
}
