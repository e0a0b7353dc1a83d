package tune

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// PopulationBasedTraining (Jaderberg et al., 2017). Every
// PerturbationInterval of TimeAttr, a trial in the bottom QuantileFraction
// of the population exploits a trial of the top fraction: it takes a copy
// of that trial's latest checkpoint and config, then explores by
// perturbing the config's HyperparamMutations (resampling with probability
// ResampleProbability, else scaling numbers by a PerturbationFactor or
// moving to a neighbouring list value). The exploiting trial pauses and
// resumes from the copied checkpoint. Trials must report checkpoints.
type PopulationBasedTraining struct {
	// TimeAttr measures progress (default "training_iteration").
	TimeAttr string
	// PerturbationInterval between exploit/explore steps (default 5).
	PerturbationInterval float64
	// HyperparamMutations maps config paths ("lr" or nested maps like the
	// param space) to a Domain to resample from or a []any of values.
	HyperparamMutations map[string]any
	// QuantileFraction of the population that exploits / is exploited
	// (default 0.25).
	QuantileFraction float64
	// ResampleProbability of resampling instead of perturbing (default 0.25).
	ResampleProbability float64
	// PerturbationFactors scale numeric values (default 1.2 and 0.8).
	PerturbationFactors [2]float64
	// CustomExplore, if set, is applied to the explored config.
	CustomExplore func(Config) Config
	// Seed overrides TuneConfig.Seed when not 0.
	Seed int64

	score       metricScore
	runner      TrialRunner
	rng         *rand.Rand
	lastPerturb map[*Trial]float64
	mutations   []spaceLeaf // leaves of HyperparamMutations: Domain or list
	// Exploits counts exploit steps taken.
	Exploits int
}

var _ Scheduler = (*PopulationBasedTraining)(nil)

type listDomain struct{ values []any }

func (l listDomain) sample(r *rand.Rand, _ Config) any {
	return deepCopy(l.values[r.IntN(len(l.values))])
}
func (l listDomain) validate() error {
	if len(l.values) == 0 {
		return errEmptyList
	}
	return nil
}
func (l listDomain) String() string { return "list" + fmtValues(l.values) }

var errEmptyList = invalid("empty list of values")

// Setup implements Scheduler.
func (p *PopulationBasedTraining) Setup(opts SchedulerOptions) error {
	var err error
	if p.score, err = newMetricScore(opts.Metric, opts.Mode); err != nil {
		return err
	}
	p.TimeAttr = orDefaultString(p.TimeAttr, "training_iteration")
	p.PerturbationInterval = orDefault(p.PerturbationInterval, 5)
	p.QuantileFraction = orDefault(p.QuantileFraction, 0.25)
	p.ResampleProbability = orDefault(p.ResampleProbability, 0.25)
	if p.PerturbationFactors == [2]float64{} {
		p.PerturbationFactors = [2]float64{1.2, 0.8}
	}
	switch {
	case p.PerturbationInterval <= 0:
		return invalid("PopulationBasedTraining: PerturbationInterval %v must be positive", p.PerturbationInterval)
	case p.QuantileFraction <= 0 || p.QuantileFraction > 0.5:
		return invalid("PopulationBasedTraining: QuantileFraction %v must be in (0, 0.5]", p.QuantileFraction)
	case p.ResampleProbability < 0 || p.ResampleProbability > 1:
		return invalid("PopulationBasedTraining: ResampleProbability %v must be in [0, 1]", p.ResampleProbability)
	case len(p.HyperparamMutations) == 0 && p.CustomExplore == nil:
		return invalid("PopulationBasedTraining: HyperparamMutations is empty and no CustomExplore is set")
	}
	// Lists become listDomains so that one walk finds every mutation.
	muts := map[string]any{}
	var conv func(v any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case []any:
			return listDomain{values: x}
		case map[string]any, Config:
			m, _ := asMap(x)
			out := map[string]any{}
			for k, e := range m {
				out[k] = conv(e)
			}
			return out
		}
		return v
	}
	for k, v := range p.HyperparamMutations {
		path := strings.Split(k, "/")
		cur := muts
		for _, seg := range path[:len(path)-1] {
			next, ok := cur[seg].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[seg] = next
			}
			cur = next
		}
		cur[path[len(path)-1]] = conv(v)
	}
	p.mutations = walkSpace(muts)
	for _, l := range p.mutations {
		if err := l.d.validate(); err != nil {
			return invalid("PopulationBasedTraining: HyperparamMutations %q: %v", l.key(), err)
		}
	}
	seed := p.Seed
	if seed == 0 {
		seed = opts.Seed
	}
	p.rng = newRand(seed)
	p.runner = opts.Runner
	p.lastPerturb = map[*Trial]float64{}
	return nil
}

// OnTrialAdd implements Scheduler.
func (p *PopulationBasedTraining) OnTrialAdd(t *Trial) { p.lastPerturb[t] = 0 }

// OnTrialResult implements Scheduler.
func (p *PopulationBasedTraining) OnTrialResult(t *Trial, r map[string]float64) Decision {
	now := timeOf(r, p.TimeAttr)
	if math.IsNaN(now) || now-p.lastPerturb[t] < p.PerturbationInterval {
		return Continue
	}
	p.lastPerturb[t] = now
	lower, upper := p.quantiles(t, r)
	if !contains(lower, t) || len(upper) == 0 {
		return Continue
	}
	donor := upper[p.rng.IntN(len(upper))]
	if !donor.HasCheckpoint() || p.runner == nil {
		return Continue
	}
	if err := p.runner.Exploit(t, donor, p.explore(donor.config)); err != nil {
		return Continue
	}
	p.Exploits++
	p.lastPerturb[t] = timeOf(donor.last, p.TimeAttr)
	return Pause
}

// quantiles ranks the trials that have reported (t with its newest result)
// and returns the bottom and top QuantileFraction.
func (p *PopulationBasedTraining) quantiles(t *Trial, r map[string]float64) (lower, upper []*Trial) {
	type ranked struct {
		t     *Trial
		score float64
	}
	var rs []ranked
	for _, o := range p.runner.Trials() {
		if o.status == StatusError {
			continue
		}
		last := o.last
		if o == t {
			last = r
		}
		if sc := p.score.of(last); last != nil && !math.IsNaN(sc) {
			rs = append(rs, ranked{o, sc})
		}
	}
	if len(rs) <= 1 {
		return nil, nil
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].score < rs[j].score })
	n := int(math.Ceil(float64(len(rs)) * p.QuantileFraction))
	n = min(n, len(rs)/2)
	for _, x := range rs[:n] {
		lower = append(lower, x.t)
	}
	for _, x := range rs[len(rs)-n:] {
		upper = append(upper, x.t)
	}
	return lower, upper
}

func contains(ts []*Trial, t *Trial) bool {
	for _, o := range ts {
		if o == t {
			return true
		}
	}
	return false
}

// explore perturbs a copy of config.
func (p *PopulationBasedTraining) explore(config Config) Config {
	c := config.Clone()
	for _, l := range p.mutations {
		key := l.key()
		old, _ := c.Lookup(key)
		setPath(map[string]any(c), l.path, p.mutate(l.d, old, c))
	}
	if p.CustomExplore != nil {
		c = p.CustomExplore(c)
	}
	return c
}

func (p *PopulationBasedTraining) mutate(d Domain, old any, c Config) any {
	resample := p.rng.Float64() < p.ResampleProbability
	if l, ok := d.(listDomain); ok {
		i := indexOf(l.values, old)
		if resample || i < 0 {
			return l.sample(p.rng, c)
		}
		i += []int{-1, 1}[p.rng.IntN(2)]
		return deepCopy(l.values[min(max(i, 0), len(l.values)-1)])
	}
	f, isNum := toFloat(old)
	if resample || !isNum {
		return d.sample(p.rng, c)
	}
	f *= p.PerturbationFactors[p.rng.IntN(2)]
	switch x := d.(type) {
	case intDomain:
		return x.clamp(math.Round(f))
	case floatDomain:
		return x.quantize(math.Min(math.Max(f, x.lo), x.hi))
	}
	if _, wasInt := old.(int); wasInt {
		return int(math.Round(f))
	}
	return f
}

// OnTrialComplete implements Scheduler.
func (p *PopulationBasedTraining) OnTrialComplete(*Trial, map[string]float64) {}

// OnTrialError implements Scheduler.
func (p *PopulationBasedTraining) OnTrialError(*Trial) {}

// ChooseTrialToRun implements Scheduler: the waiting trial that has made
// the least progress, so that the population stays in step.
func (p *PopulationBasedTraining) ChooseTrialToRun(c []*Trial) *Trial {
	var best *Trial
	bestT := math.Inf(1)
	for _, t := range c {
		if t.status != StatusPending && t.status != StatusPaused {
			continue
		}
		now := 0.0
		if t.last != nil {
			now = timeOf(t.last, p.TimeAttr)
		}
		if t.checkpoint != "" && float64(t.checkpointIter) < now && p.TimeAttr == "training_iteration" {
			now = float64(t.checkpointIter)
		}
		if now < bestT {
			best, bestT = t, now
		}
	}
	return best
}
