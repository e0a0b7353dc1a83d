package tune

import (
	"math"
	"sort"
)

// MedianStoppingRule stops a trial whose best score so far is worse than
// the median of the other trials' running-average scores at the same
// point of progress (Golovin et al., 2017; Ray's MedianStoppingRule).
type MedianStoppingRule struct {
	// TimeAttr measures progress (default "training_iteration").
	TimeAttr string
	// GracePeriod: no trial is stopped before this much TimeAttr.
	GracePeriod float64
	// MinSamplesRequired other trials must have got this far (default 3).
	MinSamplesRequired int

	score   metricScore
	results map[*Trial][][2]float64 // (time, score) per result
	stopped map[*Trial]bool
}

var _ Scheduler = (*MedianStoppingRule)(nil)

// Setup implements Scheduler.
func (m *MedianStoppingRule) Setup(opts SchedulerOptions) error {
	var err error
	if m.score, err = newMetricScore(opts.Metric, opts.Mode); err != nil {
		return err
	}
	m.TimeAttr = orDefaultString(m.TimeAttr, "training_iteration")
	if m.MinSamplesRequired == 0 {
		m.MinSamplesRequired = 3
	}
	if m.MinSamplesRequired < 1 || m.GracePeriod < 0 {
		return invalid("MedianStoppingRule: MinSamplesRequired %d must be at least 1 and GracePeriod %v not negative",
			m.MinSamplesRequired, m.GracePeriod)
	}
	m.results = map[*Trial][][2]float64{}
	m.stopped = map[*Trial]bool{}
	return nil
}

// OnTrialAdd implements Scheduler.
func (m *MedianStoppingRule) OnTrialAdd(*Trial) {}

// OnTrialResult implements Scheduler.
func (m *MedianStoppingRule) OnTrialResult(t *Trial, r map[string]float64) Decision {
	if m.stopped[t] {
		return Stop
	}
	now, sc := timeOf(r, m.TimeAttr), m.score.of(r)
	if math.IsNaN(now) {
		return Continue
	}
	m.results[t] = append(m.results[t], [2]float64{now, sc})
	if now < m.GracePeriod {
		return Continue
	}
	var avgs []float64
	for o, rs := range m.results {
		if o == t || len(rs) == 0 || (rs[len(rs)-1][0] < now && !o.status.done()) {
			continue
		}
		var sum float64
		var n int
		for _, p := range rs {
			if p[0] <= now && !math.IsNaN(p[1]) {
				sum += p[1]
				n++
			}
		}
		if n > 0 {
			avgs = append(avgs, sum/float64(n))
		}
	}
	if len(avgs) < m.MinSamplesRequired {
		return Continue
	}
	sort.Float64s(avgs)
	median := percentile(avgs, 50)
	best := math.Inf(-1)
	for _, p := range m.results[t] {
		if !math.IsNaN(p[1]) {
			best = math.Max(best, p[1])
		}
	}
	if best < median {
		m.stopped[t] = true
		return Stop
	}
	return Continue
}

// OnTrialComplete implements Scheduler.
func (m *MedianStoppingRule) OnTrialComplete(*Trial, map[string]float64) {}

// OnTrialError implements Scheduler.
func (m *MedianStoppingRule) OnTrialError(t *Trial) { delete(m.results, t) }

// ChooseTrialToRun implements Scheduler.
func (m *MedianStoppingRule) ChooseTrialToRun(c []*Trial) *Trial { return firstPendingThenPaused(c) }
