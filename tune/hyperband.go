package tune

import (
	"math"
	"sort"
)

// HyperBandScheduler is synchronous HyperBand (Li et al., 2016). Trials are
// added to brackets in turn; bracket s holds ceil((sMax+1)/(s+1)·η^s)
// trials that first run to MaxT·η^-s. A trial reaching its bracket's
// milestone is paused (it must report a checkpoint with that result to
// resume without repeating work); once every live trial of a full bracket
// is there, the best 1/η are resumed from their checkpoints up to the next
// milestone (η times further) and the others stop. Trials stop at MaxT.
type HyperBandScheduler struct {
	// TimeAttr is the result field that measures progress
	// (default "training_iteration").
	TimeAttr string
	// MaxT is the most TimeAttr a trial may reach (default 81).
	MaxT float64
	// ReductionFactor η (default 3).
	ReductionFactor float64

	score    metricScore
	runner   TrialRunner
	sMax     int
	nextS    int
	brackets []*hbBracket
	of       map[*Trial]*hbBracket
}

type hbBracket struct {
	size      int // trials it takes
	trials    []*Trial
	live      map[*Trial]bool    // not stopped or finished
	milestone float64            // current round's target
	reached   map[*Trial]float64 // score of live trials at the milestone
	promoted  map[*Trial]bool    // paused trials cleared to resume
}

var _ Scheduler = (*HyperBandScheduler)(nil)

// Setup implements Scheduler.
func (h *HyperBandScheduler) Setup(opts SchedulerOptions) error {
	var err error
	if h.score, err = newMetricScore(opts.Metric, opts.Mode); err != nil {
		return err
	}
	h.TimeAttr = orDefaultString(h.TimeAttr, "training_iteration")
	h.MaxT = orDefault(h.MaxT, 81)
	h.ReductionFactor = orDefault(h.ReductionFactor, 3)
	if h.MaxT <= 0 {
		return invalid("HyperBandScheduler: MaxT %v must be positive", h.MaxT)
	}
	if h.ReductionFactor <= 1 {
		return invalid("HyperBandScheduler: ReductionFactor %v must be greater than 1", h.ReductionFactor)
	}
	h.sMax = int(math.Log(h.MaxT)/math.Log(h.ReductionFactor) + 1e-9)
	h.nextS = h.sMax
	h.runner = opts.Runner
	h.of = map[*Trial]*hbBracket{}
	return nil
}

func (h *HyperBandScheduler) newBracket() *hbBracket {
	s := h.nextS
	h.nextS--
	if h.nextS < 0 {
		h.nextS = h.sMax
	}
	eta := h.ReductionFactor
	n := int(math.Ceil(float64(h.sMax+1) / float64(s+1) * math.Pow(eta, float64(s))))
	r := math.Max(1, math.Round(h.MaxT*math.Pow(eta, -float64(s))))
	b := &hbBracket{size: n, milestone: math.Min(r, h.MaxT), live: map[*Trial]bool{},
		reached: map[*Trial]float64{}, promoted: map[*Trial]bool{}}
	h.brackets = append(h.brackets, b)
	return b
}

// OnTrialAdd implements Scheduler.
func (h *HyperBandScheduler) OnTrialAdd(t *Trial) {
	var b *hbBracket
	if n := len(h.brackets); n > 0 && len(h.brackets[n-1].trials) < h.brackets[n-1].size {
		b = h.brackets[n-1]
	} else {
		b = h.newBracket()
	}
	b.trials = append(b.trials, t)
	b.live[t] = true
	h.of[t] = b
}

// OnTrialResult implements Scheduler.
func (h *HyperBandScheduler) OnTrialResult(t *Trial, r map[string]float64) Decision {
	b := h.of[t]
	if b == nil || !b.live[t] {
		return Stop
	}
	now := timeOf(r, h.TimeAttr)
	if math.IsNaN(now) || now < b.milestone {
		return Continue
	}
	if now >= h.MaxT {
		h.retire(b, t)
		return Stop
	}
	b.reached[t] = h.score.of(r)
	if !h.roundDone(b) {
		return Pause
	}
	h.halve(b)
	if b.promoted[t] {
		delete(b.promoted, t) // it keeps running: no pause needed
		return Continue
	}
	return Stop
}

// filled reports whether a bracket takes no more trials.
func (h *HyperBandScheduler) filled(b *hbBracket) bool {
	return len(b.trials) >= b.size || h.runner == nil || h.runner.SearchFinished() ||
		b != h.brackets[len(h.brackets)-1]
}

// roundDone reports whether every live trial of a filled bracket reached
// the milestone.
func (h *HyperBandScheduler) roundDone(b *hbBracket) bool {
	if len(b.live) == 0 || !h.filled(b) {
		return false
	}
	for t := range b.live {
		if _, ok := b.reached[t]; !ok {
			return false
		}
	}
	return true
}

// halve keeps the best 1/η of the bracket's live trials, stops the rest
// and moves the milestone on.
func (h *HyperBandScheduler) halve(b *hbBracket) {
	ranked := make([]*Trial, 0, len(b.reached))
	for t := range b.reached {
		ranked = append(ranked, t)
	}
	sort.Slice(ranked, func(i, j int) bool {
		si, sj := b.reached[ranked[i]], b.reached[ranked[j]]
		if math.IsNaN(si) != math.IsNaN(sj) {
			return !math.IsNaN(si)
		}
		if si != sj {
			return si > sj
		}
		return ranked[i].index < ranked[j].index
	})
	keep := max(1, int(float64(len(ranked))/h.ReductionFactor))
	for i, t := range ranked {
		if i < keep {
			b.promoted[t] = true
			continue
		}
		delete(b.live, t)
		if h.runner != nil && t.status != StatusRunning {
			h.runner.StopTrial(t)
		}
	}
	b.reached = map[*Trial]float64{}
	b.milestone = math.Min(b.milestone*h.ReductionFactor, h.MaxT)
}

func (h *HyperBandScheduler) retire(b *hbBracket, t *Trial) {
	delete(b.live, t)
	delete(b.reached, t)
	delete(b.promoted, t)
	if len(b.reached) > 0 && h.roundDone(b) {
		h.halve(b)
	}
}

// OnTrialComplete implements Scheduler.
func (h *HyperBandScheduler) OnTrialComplete(t *Trial, _ map[string]float64) {
	if b := h.of[t]; b != nil {
		h.retire(b, t)
	}
}

// OnTrialError implements Scheduler.
func (h *HyperBandScheduler) OnTrialError(t *Trial) { h.OnTrialComplete(t, nil) }

// ChooseTrialToRun implements Scheduler: first a promoted paused trial,
// then a pending one. Brackets whose last trials were waiting for the
// search to finish are halved here.
func (h *HyperBandScheduler) ChooseTrialToRun(c []*Trial) *Trial {
	for _, b := range h.brackets {
		if len(b.reached) > 0 && h.roundDone(b) {
			h.halve(b)
		}
	}
	for _, t := range c {
		if b := h.of[t]; t.status == StatusPaused && b != nil && b.promoted[t] {
			delete(b.promoted, t)
			return t
		}
	}
	for _, t := range c {
		if t.status == StatusPending {
			return t
		}
	}
	return nil
}
