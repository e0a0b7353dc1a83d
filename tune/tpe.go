package tune

import (
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
)

// TPESearch is a Tree-structured Parzen Estimator (Bayesian) searcher, as
// in Hyperopt and Optuna. After NumStartup random trials it splits the
// finished trials into the best Gamma fraction ("good") and the rest, fits
// a Parzen (Gaussian mixture or weighted categorical) density to each
// dimension of both groups, draws NumCandidates values from the good
// density and keeps the one maximising good/bad density. Dimensions are
// modelled independently. GridSearch is not supported (use Choice).
// Combine with ConcurrencyLimiter so that the searcher sees results before
// it suggests more.
type TPESearch struct {
	// NumStartup random trials precede the model (default 10).
	NumStartup int
	// NumCandidates values are drawn per dimension (default 24).
	NumCandidates int
	// Gamma is the fraction of finished trials taken as good (default 0.25).
	Gamma float64
	// Seed overrides TuneConfig.Seed when not 0.
	Seed int64

	space   Config
	leaves  []spaceLeaf
	sign    float64 // +1 min, -1 max: scores are minimised
	metric  string
	obs     []tpeObs
	pending map[string]Config // suggested, not yet complete
	rng     *rand.Rand
}

type tpeObs struct {
	values []any // per leaf; nil for SampleFrom leaves
	score  float64
}

var _ Searcher = (*TPESearch)(nil)

// Setup implements Searcher.
func (s *TPESearch) Setup(space Config, opts SearchOptions) error {
	if err := validateSpace(space); err != nil {
		return err
	}
	if opts.Metric == "" {
		return invalid("TPESearch needs TuneConfig.Metric")
	}
	s.leaves = walkSpace(space)
	for _, l := range s.leaves {
		if _, ok := l.d.(gridDomain); ok {
			return invalid("param_space %q: TPESearch does not support GridSearch; use Choice", l.key())
		}
	}
	if s.NumStartup <= 0 {
		s.NumStartup = 10
	}
	if s.NumCandidates <= 0 {
		s.NumCandidates = 24
	}
	if s.Gamma <= 0 || s.Gamma >= 1 {
		s.Gamma = 0.25
	}
	s.space, s.metric = space, opts.Metric
	s.sign = 1
	if opts.Mode == "max" {
		s.sign = -1
	}
	seed := s.Seed
	if seed == 0 {
		seed = opts.Seed
	}
	s.rng = newRand(seed)
	s.pending = map[string]Config{}
	return nil
}

// Suggest implements Searcher.
func (s *TPESearch) Suggest(id string) (Config, error) {
	c := s.suggest()
	s.pending[id] = c
	return c, nil
}

func (s *TPESearch) suggest() Config {
	c := copySpace(s.space)
	if len(s.obs) < s.NumStartup {
		return resolve(c, s.rng)
	}
	sorted := make([]tpeObs, len(s.obs))
	copy(sorted, s.obs)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].score < sorted[j].score })
	nGood := int(math.Ceil(s.Gamma * float64(len(sorted))))
	nGood = min(max(nGood, 1), len(sorted)-1)
	good, bad := sorted[:nGood], sorted[nGood:]
	for i, l := range s.leaves {
		if _, ok := l.d.(funcDomain); ok {
			continue
		}
		setPath(map[string]any(c), l.path, s.suggestLeaf(i, l.d, good, bad))
	}
	return resolve(c, s.rng) // only SampleFrom leaves remain
}

func (s *TPESearch) suggestLeaf(i int, d Domain, good, bad []tpeObs) any {
	switch d := d.(type) {
	case choiceDomain:
		wg := categoricalWeights(d.values, i, good)
		wb := categoricalWeights(d.values, i, bad)
		best, bestScore := 0, math.Inf(-1)
		for range s.NumCandidates {
			k := pickWeighted(s.rng, wg)
			if sc := math.Log(wg[k]) - math.Log(wb[k]); sc > bestScore {
				best, bestScore = k, sc
			}
		}
		return deepCopy(d.values[best])
	}
	lo, hi, prior, fwd, back := numericSpace(d)
	pg := newParzen(numericObs(i, good, fwd), lo, hi, prior)
	pb := newParzen(numericObs(i, bad, fwd), lo, hi, prior)
	best, bestScore := prior, math.Inf(-1)
	for range s.NumCandidates {
		x := pg.sample(s.rng)
		if sc := pg.logPDF(x) - pb.logPDF(x); sc > bestScore {
			best, bestScore = x, sc
		}
	}
	return back(best)
}

// numericSpace returns a numeric domain's bounds in the space the model
// works in (log for LogUniform), the prior mean, and the maps to and from it.
func numericSpace(d Domain) (lo, hi, prior float64, fwd func(any) (float64, bool), back func(float64) any) {
	num := func(v any) (float64, bool) { return toFloat(v) }
	switch d := d.(type) {
	case floatDomain:
		if d.log {
			fwdLog := func(v any) (float64, bool) {
				f, ok := toFloat(v)
				if !ok || f <= 0 {
					return 0, false
				}
				return math.Log(f), true
			}
			lo, hi = math.Log(d.lo), math.Log(d.hi)
			return lo, hi, (lo + hi) / 2, fwdLog, func(x float64) any { return d.quantize(math.Exp(x)) }
		}
		return d.lo, d.hi, (d.lo + d.hi) / 2, num, func(x float64) any { return d.quantize(x) }
	case intDomain:
		lo, hi := float64(d.lo), float64(d.hi)
		if d.q == 0 {
			return lo, hi, (lo + hi) / 2, func(v any) (float64, bool) {
				f, ok := toFloat(v)
				return f + 0.5, ok // centre of the integer's cell [v, v+1)
			}, func(x float64) any { return d.clamp(x) }
		}
		q := float64(d.q)
		return lo - q/2, hi + q/2, (lo + hi) / 2, num, func(x float64) any { return d.clamp(x) }
	case normalDomain:
		lo, hi := d.mean-4*d.sd, d.mean+4*d.sd
		return lo, hi, d.mean, num, func(x float64) any { return x }
	}
	panic("tune: numericSpace on " + d.String())
}

func numericObs(i int, obs []tpeObs, fwd func(any) (float64, bool)) []float64 {
	var xs []float64
	for _, o := range obs {
		if x, ok := fwd(o.values[i]); ok {
			xs = append(xs, x)
		}
	}
	return xs
}

func categoricalWeights(values []any, i int, obs []tpeObs) []float64 {
	w := make([]float64, len(values))
	for k := range w {
		w[k] = 1 // prior
	}
	for _, o := range obs {
		if k := indexOf(values, o.values[i]); k >= 0 {
			w[k]++
		}
	}
	var sum float64
	for _, x := range w {
		sum += x
	}
	for k := range w {
		w[k] /= sum
	}
	return w
}

func indexOf(values []any, v any) int {
	for k, c := range values {
		if reflect.DeepEqual(c, v) {
			return k
		}
	}
	if f, ok := toFloat(v); ok { // a restored config holds float64s
		for k, c := range values {
			if g, ok := toFloat(c); ok && g == f {
				return k
			}
		}
	}
	return -1
}

func pickWeighted(r *rand.Rand, w []float64) int {
	u := r.Float64()
	for k, x := range w {
		if u < x {
			return k
		}
		u -= x
	}
	return len(w) - 1
}

// parzen is a mixture of Gaussians truncated to [lo, hi], one per
// observation plus a wide prior component, with Hyperopt's adaptive
// bandwidths (the larger gap to a neighbour, clipped).
type parzen struct {
	lo, hi     float64
	mus, sigma []float64
	z          []float64 // truncation mass of each component
}

func newParzen(xs []float64, lo, hi, prior float64) parzen {
	type comp struct {
		mu    float64
		prior bool
	}
	cs := make([]comp, 0, len(xs)+1)
	for _, x := range xs {
		cs = append(cs, comp{mu: x})
	}
	cs = append(cs, comp{mu: prior, prior: true})
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].mu < cs[j].mu })
	n := len(cs)
	width := hi - lo
	minSigma := width / math.Min(100, float64(n)+1)
	p := parzen{lo: lo, hi: hi, mus: make([]float64, n), sigma: make([]float64, n), z: make([]float64, n)}
	for k, c := range cs {
		left, right := c.mu-lo, hi-c.mu
		if k > 0 {
			left = c.mu - cs[k-1].mu
		}
		if k < n-1 {
			right = cs[k+1].mu - c.mu
		}
		s := math.Min(math.Max(math.Max(left, right), minSigma), width)
		if c.prior {
			s = width // the prior component stays wide
		}
		p.mus[k], p.sigma[k] = c.mu, s
		p.z[k] = math.Max(normCDF((hi-c.mu)/s)-normCDF((lo-c.mu)/s), 1e-12)
	}
	return p
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func (p parzen) sample(r *rand.Rand) float64 {
	k := r.IntN(len(p.mus))
	for range 100 {
		x := p.mus[k] + p.sigma[k]*r.NormFloat64()
		if x >= p.lo && x <= p.hi {
			return x
		}
	}
	return math.Min(math.Max(p.mus[k], p.lo), p.hi)
}

func (p parzen) logPDF(x float64) float64 {
	var sum float64
	for k, m := range p.mus {
		d := (x - m) / p.sigma[k]
		sum += math.Exp(-0.5*d*d) / (p.sigma[k] * math.Sqrt(2*math.Pi) * p.z[k])
	}
	return math.Log(sum/float64(len(p.mus)) + 1e-300)
}

// OnTrialResult implements Searcher.
func (s *TPESearch) OnTrialResult(string, map[string]float64) {}

// OnTrialComplete implements Searcher: trials that ended without error
// and reported the metric become observations.
func (s *TPESearch) OnTrialComplete(id string, m map[string]float64, err error) {
	c := s.pending[id]
	delete(s.pending, id)
	if err == nil {
		s.observe(c, m)
	}
}

func (s *TPESearch) restoreTrial(id string, c Config, m map[string]float64, finished bool) {
	if finished {
		s.observe(c, m)
		return
	}
	s.pending[id] = c
}

// observe records a finished trial's config and score.
func (s *TPESearch) observe(c Config, m map[string]float64) {
	v, ok := m[s.metric]
	if !ok || math.IsNaN(v) || c == nil {
		return
	}
	o := tpeObs{values: make([]any, len(s.leaves)), score: s.sign * v}
	for i, l := range s.leaves {
		o.values[i], _ = c.Lookup(l.key())
	}
	s.obs = append(s.obs, o)
}
