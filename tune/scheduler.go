package tune

import (
	"math"
	"sort"
)

// Decision is a scheduler's answer to a trial's result.
type Decision int

// Decisions.
const (
	// Continue lets the trial go on.
	Continue Decision = iota
	// Pause ends the trial's current run at this result; its latest
	// checkpoint is kept and it resumes from there when the scheduler
	// chooses it again (HyperBand, PBT).
	Pause
	// Stop ends the trial; it is TERMINATED.
	Stop
)

func (d Decision) String() string {
	switch d {
	case Continue:
		return "CONTINUE"
	case Pause:
		return "PAUSE"
	case Stop:
		return "STOP"
	}
	return "Decision(?)"
}

// TrialRunner is the tuner's side of the scheduler interface: what a
// scheduler may do to trials other than the one whose result it is deciding.
type TrialRunner interface {
	// Trials returns every trial in creation order.
	Trials() []*Trial
	// StopTrial ends a PENDING or PAUSED trial at once (TERMINATED), or a
	// RUNNING one at its next report. The scheduler is not called back.
	StopTrial(t *Trial)
	// SearchFinished reports whether the searcher will add no more trials.
	SearchFinished() bool
	// Exploit gives t a copy of donor's latest checkpoint and config as its
	// new starting point (PBT). It fails if donor has no checkpoint.
	Exploit(t, donor *Trial, config Config) error
}

// SchedulerOptions is what a Scheduler learns in Setup.
type SchedulerOptions struct {
	// Metric and Mode ("min" or "max") are TuneConfig's.
	Metric, Mode string
	// Seed is TuneConfig.Seed (a random one when it was 0).
	Seed int64
	// Runner acts on trials.
	Runner TrialRunner
}

// Scheduler decides, result by result, whether trials go on, pause or
// stop, and which waiting trial runs next. The tuner calls every method from
// one goroutine. A Scheduler value serves one experiment.
type Scheduler interface {
	Setup(opts SchedulerOptions) error
	// OnTrialAdd is called when a trial is created.
	OnTrialAdd(t *Trial)
	// OnTrialResult decides on a trial's result.
	OnTrialResult(t *Trial, result map[string]float64) Decision
	// OnTrialComplete is called when a trial ends normally (its trainable
	// returned, or it was stopped by a Stop decision or a stop condition).
	OnTrialComplete(t *Trial, result map[string]float64)
	// OnTrialError is called when a trial failed for good.
	OnTrialError(t *Trial)
	// ChooseTrialToRun picks the trial to start or resume among the
	// PENDING and PAUSED candidates, or nil to start none now (the tuner
	// then asks the searcher for a new trial).
	ChooseTrialToRun(candidates []*Trial) *Trial
}

// metricScore turns a metric into a score where higher is better.
type metricScore struct {
	metric string
	sign   float64
}

func newMetricScore(metric, mode string) (metricScore, error) {
	if metric == "" {
		return metricScore{}, invalid("scheduler needs TuneConfig.Metric")
	}
	switch mode {
	case "max":
		return metricScore{metric, 1}, nil
	case "min":
		return metricScore{metric, -1}, nil
	}
	return metricScore{}, invalid("TuneConfig.Mode %q: must be \"min\" or \"max\"", mode)
}

// of returns the score of a result, NaN if the metric is missing.
func (s metricScore) of(m map[string]float64) float64 {
	v, ok := m[s.metric]
	if !ok {
		return math.NaN()
	}
	return s.sign * v
}

// FIFOScheduler runs trials in creation order to completion.
type FIFOScheduler struct{}

var _ Scheduler = (*FIFOScheduler)(nil)

// Setup implements Scheduler.
func (*FIFOScheduler) Setup(SchedulerOptions) error { return nil }

// OnTrialAdd implements Scheduler.
func (*FIFOScheduler) OnTrialAdd(*Trial) {}

// OnTrialResult implements Scheduler.
func (*FIFOScheduler) OnTrialResult(*Trial, map[string]float64) Decision { return Continue }

// OnTrialComplete implements Scheduler.
func (*FIFOScheduler) OnTrialComplete(*Trial, map[string]float64) {}

// OnTrialError implements Scheduler.
func (*FIFOScheduler) OnTrialError(*Trial) {}

// ChooseTrialToRun implements Scheduler: pending trials first, then
// paused ones, oldest first.
func (*FIFOScheduler) ChooseTrialToRun(c []*Trial) *Trial { return firstPendingThenPaused(c) }

func firstPendingThenPaused(c []*Trial) *Trial {
	for _, t := range c {
		if t.status == StatusPending {
			return t
		}
	}
	for _, t := range c {
		if t.status == StatusPaused {
			return t
		}
	}
	return nil
}

// timeOf returns a result's time attribute (training_iteration by default).
func timeOf(m map[string]float64, attr string) float64 {
	if v, ok := m[attr]; ok {
		return v
	}
	return math.NaN()
}

// percentile is numpy's linear-interpolation percentile (p in [0, 100]),
// ignoring NaNs; NaN if there are no values.
func percentile(vals []float64, p float64) float64 {
	var v []float64
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	pos := p / 100 * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return v[lo] + (v[hi]-v[lo])*(pos-float64(lo))
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orDefaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
