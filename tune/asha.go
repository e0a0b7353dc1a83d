package tune

import (
	"fmt"
	"math"
)

// ASHAScheduler is asynchronous successive halving (Li et al., 2018), as
// Ray's AsyncHyperBandScheduler: each bracket has rungs at GracePeriod ×
// ReductionFactor^k; a trial reaching a rung continues only if its score is
// in the top 1/ReductionFactor of the scores recorded at that rung so far,
// and every trial stops at MaxT. Trials never wait for each other.
type ASHAScheduler struct {
	// TimeAttr is the result field that measures progress
	// (default "training_iteration").
	TimeAttr string
	// MaxT is the most TimeAttr a trial may reach (default 100).
	MaxT float64
	// GracePeriod is the first rung (default 1).
	GracePeriod float64
	// ReductionFactor sets the rung spacing and the fraction kept
	// (default 4).
	ReductionFactor float64
	// Brackets is the number of brackets, trials spread at random (default 1).
	Brackets int

	score    metricScore
	brackets []*ashaBracket
	of       map[*Trial]*ashaBracket
	rng      interface{ Float64() float64 }
}

type ashaRung struct {
	milestone float64
	recorded  map[*Trial]float64
}

type ashaBracket struct {
	rungs []*ashaRung // highest milestone first
	rf    float64
}

var _ Scheduler = (*ASHAScheduler)(nil)

// Setup implements Scheduler.
func (a *ASHAScheduler) Setup(opts SchedulerOptions) error {
	var err error
	if a.score, err = newMetricScore(opts.Metric, opts.Mode); err != nil {
		return err
	}
	a.TimeAttr = orDefaultString(a.TimeAttr, "training_iteration")
	a.MaxT = orDefault(a.MaxT, 100)
	a.GracePeriod = orDefault(a.GracePeriod, 1)
	a.ReductionFactor = orDefault(a.ReductionFactor, 4)
	if a.Brackets == 0 {
		a.Brackets = 1
	}
	switch {
	case a.GracePeriod <= 0 || a.MaxT < a.GracePeriod:
		return invalid("ASHAScheduler: need 0 < GracePeriod (%v) <= MaxT (%v)", a.GracePeriod, a.MaxT)
	case a.ReductionFactor <= 1:
		return invalid("ASHAScheduler: ReductionFactor %v must be greater than 1", a.ReductionFactor)
	case a.Brackets < 1:
		return invalid("ASHAScheduler: Brackets %d must be at least 1", a.Brackets)
	}
	maxRungs := int(math.Log(a.MaxT/a.GracePeriod)/math.Log(a.ReductionFactor)+1e-9) + 1
	for s := range a.Brackets {
		b := &ashaBracket{rf: a.ReductionFactor}
		for k := maxRungs - s - 1; k >= 0; k-- {
			m := a.GracePeriod * math.Pow(a.ReductionFactor, float64(k+s))
			b.rungs = append(b.rungs, &ashaRung{milestone: m, recorded: map[*Trial]float64{}})
		}
		a.brackets = append(a.brackets, b)
	}
	a.of = map[*Trial]*ashaBracket{}
	a.rng = newRand(opts.Seed)
	return nil
}

// OnTrialAdd implements Scheduler: the bracket is drawn with weights
// proportional to the brackets' sizes, as in Ray.
func (a *ASHAScheduler) OnTrialAdd(t *Trial) {
	if len(a.brackets) == 1 {
		a.of[t] = a.brackets[0]
		return
	}
	w := make([]float64, len(a.brackets))
	var sum float64
	for s := range w {
		w[s] = math.Pow(a.ReductionFactor, float64(len(a.brackets)-1-s))
		sum += w[s]
	}
	u := a.rng.Float64() * sum
	for s := range w {
		if u < w[s] || s == len(w)-1 {
			a.of[t] = a.brackets[s]
			return
		}
		u -= w[s]
	}
}

// OnTrialResult implements Scheduler.
func (a *ASHAScheduler) OnTrialResult(t *Trial, r map[string]float64) Decision {
	b := a.of[t]
	if b == nil {
		a.OnTrialAdd(t)
		b = a.of[t]
	}
	now := timeOf(r, a.TimeAttr)
	if math.IsNaN(now) {
		return Continue
	}
	if now >= a.MaxT {
		return Stop
	}
	return b.onResult(t, now, a.score.of(r))
}

func (b *ashaBracket) onResult(t *Trial, now, score float64) Decision {
	for _, r := range b.rungs {
		if now < r.milestone {
			continue
		}
		if _, done := r.recorded[t]; done {
			break // reached this rung (and so all lower ones) before
		}
		vals := make([]float64, 0, len(r.recorded))
		for _, v := range r.recorded {
			vals = append(vals, v)
		}
		r.recorded[t] = score
		if cutoff := percentile(vals, (1-1/b.rf)*100); !math.IsNaN(cutoff) && (math.IsNaN(score) || score < cutoff) {
			return Stop
		}
		break
	}
	return Continue
}

// OnTrialComplete implements Scheduler.
func (a *ASHAScheduler) OnTrialComplete(t *Trial, _ map[string]float64) { delete(a.of, t) }

// OnTrialError implements Scheduler.
func (a *ASHAScheduler) OnTrialError(t *Trial) { delete(a.of, t) }

// ChooseTrialToRun implements Scheduler.
func (a *ASHAScheduler) ChooseTrialToRun(c []*Trial) *Trial { return firstPendingThenPaused(c) }

// String describes the rungs, e.g. for logs.
func (a *ASHAScheduler) String() string {
	s := "ASHA"
	for _, b := range a.brackets {
		s += " ["
		for i, r := range b.rungs {
			if i > 0 {
				s += " "
			}
			s += fmt.Sprint(r.milestone)
		}
		s += "]"
	}
	return s
}
