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
	// Synch makes the population wait for each other: a trial reaching a
	// perturbation point pauses until every unfinished trial has reached
	// it, then the bottom quantile exploits the top one together (Ray's
	// synch=True). Without it trials exploit whoever is ahead when they
	// get there, which favours trials that merely run faster.
	Synch bool

	barrier     map[*Trial]map[string]float64 // Synch: trials waiting, with their result
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
	p.barrier = map[*Trial]map[string]float64{}
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
	if p.Synch {
		p.barrier[t] = r
		if !p.barrierComplete() {
			return Pause
		}
		if p.releaseBarrier()[t] {
			return Pause
		}
		return Continue
	}
	p.lastPerturb[t] = now
	results := map[*Trial]map[string]float64{}
	for _, o := range p.runner.Trials() {
		if o.status != StatusError && o.last != nil {
			results[o] = o.last
		}
	}
	results[t] = r
	lower, upper := p.quantiles(results)
	if !contains(lower, t) || !p.exploit(t, upper) {
		return Continue
	}
	return Pause
}

// exploit makes t take over a random trial of upper, and explores.
func (p *PopulationBasedTraining) exploit(t *Trial, upper []*Trial) bool {
	if len(upper) == 0 || p.runner == nil {
		return false
	}
	donor := upper[p.rng.IntN(len(upper))]
	if !donor.HasCheckpoint() || p.runner.Exploit(t, donor, p.explore(donor.config)) != nil {
		return false
	}
	p.Exploits++
	p.lastPerturb[t] = float64(donor.checkpointIter)
	if p.TimeAttr != "training_iteration" {
		p.lastPerturb[t] = timeOf(donor.last, p.TimeAttr)
	}
	return true
}

// barrierComplete reports whether every unfinished trial waits at the
// barrier and no trial is still to come.
func (p *PopulationBasedTraining) barrierComplete() bool {
	if len(p.barrier) == 0 || p.runner == nil || !p.runner.SearchFinished() {
		return false
	}
	for _, o := range p.runner.Trials() {
		if _, ok := p.barrier[o]; !ok && !o.status.done() {
			return false
		}
	}
	return true
}

// releaseBarrier ranks the waiting trials, lets the bottom quantile exploit
// the top one and returns the trials that exploited.
func (p *PopulationBasedTraining) releaseBarrier() map[*Trial]bool {
	lower, upper := p.quantiles(p.barrier)
	for o, r := range p.barrier {
		p.lastPerturb[o] = timeOf(r, p.TimeAttr)
	}
	exploited := map[*Trial]bool{}
	for _, o := range lower {
		if p.exploit(o, upper) {
			exploited[o] = true
		}
	}
	p.barrier = map[*Trial]map[string]float64{}
	return exploited
}

// quantiles ranks trials by their result and returns the bottom and top
// QuantileFraction (at most half each).
func (p *PopulationBasedTraining) quantiles(results map[*Trial]map[string]float64) (lower, upper []*Trial) {
	type ranked struct {
		t     *Trial
		score float64
	}
	var rs []ranked
	for o, r := range results {
		if sc := p.score.of(r); !math.IsNaN(sc) {
			rs = append(rs, ranked{o, sc})
		}
	}
	if len(rs) <= 1 {
		return nil, nil
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].score != rs[j].score {
			return rs[i].score < rs[j].score
		}
		return rs[i].t.index < rs[j].t.index
	})
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
func (p *PopulationBasedTraining) OnTrialComplete(t *Trial, _ map[string]float64) {
	delete(p.barrier, t)
}

// OnTrialError implements Scheduler.
func (p *PopulationBasedTraining) OnTrialError(t *Trial) { delete(p.barrier, t) }

// ChooseTrialToRun implements Scheduler: the waiting trial that has made
// the least progress, so that the population stays in step. With Synch,
// trials at the barrier wait until it is released.
func (p *PopulationBasedTraining) ChooseTrialToRun(c []*Trial) *Trial {
	if p.Synch && p.barrierComplete() {
		p.releaseBarrier()
	}
	var best *Trial
	bestT := math.Inf(1)
	for _, t := range c {
		if t.status != StatusPending && t.status != StatusPaused {
			continue
		}
		if _, waits := p.barrier[t]; waits {
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
