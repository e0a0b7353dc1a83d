package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
)

// event is a message to the controller's run loop.
type event any

// reportEvent carries one result from a trial's run to the controller,
// which answers on reply. A nil metrics map only records a checkpoint.
type reportEvent struct {
	trial   string
	run     int
	metrics map[string]float64
	ckpt    string // persisted checkpoint directory, "" for none
	ckptSeq int
	reply   chan<- Decision
}

// doneEvent says a trial's run ended.
type doneEvent struct {
	t   *Trial
	run int
	err error
}

// stopReason says why the experiment is ending early.
type stopReason int

const (
	notStopping   stopReason = iota
	stopInterrupt            // ctx cancelled: unfinished trials stay resumable
	stopBudget               // time budget or Stopper.StopAll
	stopFatal                // an experiment-level error
)

// controller is the single-goroutine core of an experiment: it owns every
// Trial, asks the searcher for configs and the scheduler for decisions,
// starts runs on core actors and handles their reports.
type controller struct {
	t       *Tuner
	tr      *trainable
	expDir  string
	events  chan event
	metric  string
	mode    string
	seed    int64
	search  Searcher
	sched   Scheduler
	maxConc int
	// capSamples: the controller stops asking the searcher after
	// NumSamples trials (searchers other than BasicVariantGenerator).
	capSamples bool

	trials     []*Trial
	byID       map[string]*Trial
	running    int
	searchDone bool
	stopping   stopReason
	fatal      error
	wg         sync.WaitGroup
	runCtx     context.Context
	started    time.Time
	state      *stateWriter
	progress   *progress
	replaying  bool // restoreTrials is replaying results into the scheduler
	// trainable is the name trial actors find the trainable under.
	trainable string
	logs      *logSink
	logsToGo  int // runs whose logs are not yet on disk
}

func newController(t *Tuner) (*controller, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	tr, err := newTrainable(t.Trainable, len(walkSpace(t.ParamSpace)) == 0 && len(t.ParamSpace) == 0)
	if err != nil {
		return nil, err
	}
	if err := core.Init(); err != nil {
		return nil, fmt.Errorf("tune: start core runtime: %w", err)
	}
	total := core.ClusterResources()
	if err := feasible(tr.res, total); err != nil {
		return nil, err
	}
	tc := t.TuneConfig
	c := &controller{t: t, tr: tr, metric: tc.Metric, mode: tc.Mode, seed: tc.Seed,
		byID: map[string]*Trial{}, events: make(chan event, 256)}
	if c.seed == 0 {
		if t.restored != nil && t.restored.Seed != 0 {
			c.seed = t.restored.Seed
		} else {
			c.seed = rand.Int64N(math.MaxInt64-1) + 1
		}
	}
	if c.expDir, err = t.experimentDir(tr.name); err != nil {
		return nil, err
	}
	c.maxConc = tc.MaxConcurrentTrials
	if c.maxConc == 0 {
		c.maxConc = defaultConcurrency(tr.res, total)
	}
	c.search = tc.SearchAlg
	if c.search == nil {
		c.search = &BasicVariantGenerator{}
	}
	c.sched = tc.Scheduler
	if c.sched == nil {
		c.sched = &FIFOScheduler{}
	}
	sl, ok := c.search.(selfLimiting)
	c.capSamples = !ok || !sl.limitsSamples()
	space := Config(t.ParamSpace)
	if space == nil {
		space = Config{}
	}
	if err := c.search.Setup(space, SearchOptions{Metric: c.metric, Mode: c.mode,
		NumSamples: c.numSamples(), Seed: c.seed}); err != nil {
		return nil, err
	}
	if err := c.sched.Setup(SchedulerOptions{Metric: c.metric, Mode: c.mode, Seed: c.seed, Runner: c}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *controller) numSamples() int { return max(c.t.TuneConfig.NumSamples, 1) }

// feasible checks that one trial fits in the runtime at all.
func feasible(r Resources, total map[string]float64) error {
	need := map[string]float64{"CPU": r.CPU, "GPU": r.GPU}
	for k, v := range r.Custom {
		need[k] = v
	}
	for k, v := range need {
		if v > 0 && v > total[k] {
			return invalid("a trial needs %v %s but the core runtime has %v", v, k, total[k])
		}
	}
	return nil
}

// defaultConcurrency is how many trials fit in the runtime at once.
func defaultConcurrency(r Resources, total map[string]float64) int {
	n := math.Inf(1)
	if r.CPU > 0 {
		n = math.Floor(total["CPU"] / r.CPU)
	}
	if r.GPU > 0 {
		n = math.Min(n, math.Floor(total["GPU"]/r.GPU))
	}
	for k, v := range r.Custom {
		if v > 0 {
			n = math.Min(n, math.Floor(total[k]/v))
		}
	}
	if math.IsInf(n, 1) {
		n = math.Max(total["CPU"], 1)
	}
	return max(int(n), 1)
}

// run is the experiment's run loop.
func (c *controller) run(ctx context.Context) (*ResultGrid, error) {
	if c.t.restored == nil {
		if _, err := os.Stat(filepath.Join(c.expDir, stateFile)); err == nil {
			return nil, invalid("RunConfig.Name %q: %s already holds an experiment; finish it with tune.Restore or choose another name",
				c.t.RunConfig.Name, c.expDir)
		}
	}
	if err := os.MkdirAll(c.expDir, 0o755); err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	c.started = time.Now()
	c.progress = newProgress(c.t.RunConfig.Progress, c.t.RunConfig.Verbose, c.metric)
	c.state = newStateWriter(c)
	if c.t.restored != nil {
		if err := c.restoreTrials(c.t.restored); err != nil {
			return nil, err
		}
	}
	c.trainable = c.tr.registered
	if c.trainable == "" {
		var release func()
		c.trainable, release = holdDerivedName(c.tr.derived, c.tr.fn)
		defer release()
	}
	c.logs = newLogSink(c.events, 4)
	var cancel context.CancelFunc
	c.runCtx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var budget <-chan time.Time
	if d := c.t.TuneConfig.TimeBudget; d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		budget = tm.C
	}
	done := ctx.Done()
	// From the start, a killed experiment can be restored: the state is
	// on disk before any trial runs, and again once the first are started.
	if err := c.state.save(); err != nil {
		return nil, fmt.Errorf("tune: save experiment state: %w", err)
	}
	c.fill()
	if err := c.state.saveIfChanged(); err != nil {
		c.fail(fmt.Errorf("tune: save experiment state: %w", err))
	}
	for c.running > 0 || c.logsToGo > 0 {
		select {
		case ev := <-c.events:
			c.handle(ev)
			// Handle what else was queued before saving, so that a burst
			// of status changes costs one write.
			for n := len(c.events); n > 0; n-- {
				c.handle(<-c.events)
			}
		case now := <-tick.C:
			c.progress.maybeRender(now, c)
			c.state.maybeSave(now)
		case <-budget:
			c.beginStop(stopBudget)
		case <-done:
			done = nil
			c.beginStop(stopInterrupt)
		}
		c.fill()
		if err := c.state.saveIfChanged(); err != nil {
			c.fail(fmt.Errorf("tune: save experiment state: %w", err))
		}
	}
	c.wg.Wait()
	c.logs.wg.Wait()
	if ctx.Err() != nil && c.stopping == notStopping {
		c.stopping = stopInterrupt
	}
	saveErr := c.state.save()
	c.progress.final(c)
	grid := c.resultGrid()
	switch {
	case c.fatal != nil:
		return grid, c.fatal
	case c.stopping == stopInterrupt:
		return grid, fmt.Errorf("tune: experiment %s interrupted (resume it with tune.Restore): %w", c.expDir, context.Cause(ctx))
	case saveErr != nil:
		return grid, fmt.Errorf("tune: save experiment state: %w", saveErr)
	}
	return grid, nil
}

func (c *controller) handle(ev event) {
	switch ev := ev.(type) {
	case *reportEvent:
		c.onReport(ev)
	case doneEvent:
		c.onDone(ev)
	case logsDone:
		c.logsToGo--
		ev.t.logsToGo--
		c.state.markChanged()
		if ev.err != nil {
			c.fail(ev.err)
		}
	}
}

// fill starts trials while there are free slots: first those the
// scheduler chooses among pending and paused ones, then new ones from the
// searcher.
func (c *controller) fill() {
	for c.stopping == notStopping && c.running < c.maxConc {
		if t := c.sched.ChooseTrialToRun(c.waiting()); t != nil {
			c.startRun(t)
			continue
		}
		if c.searchDone {
			break
		}
		if !c.newTrial() {
			break
		}
	}
	if c.running > 0 || c.stopping != notStopping {
		return
	}
	// Nothing runs and nothing was chosen: resume what the scheduler
	// left waiting rather than end with unfinished trials.
	if w := c.waiting(); len(w) > 0 {
		c.startRun(w[0])
		return
	}
	if !c.searchDone {
		c.fail(fmt.Errorf("tune: the searcher suggests no trial while none is running (a ConcurrencyLimiter with nothing live?)"))
	}
}

// waiting lists the trials that may be started or resumed.
func (c *controller) waiting() []*Trial {
	var w []*Trial
	for _, t := range c.trials {
		if (t.status == StatusPending || t.status == StatusPaused) && !t.stopAsked {
			w = append(w, t)
		}
	}
	return w
}

// newTrial asks the searcher for a config and adds the trial.
func (c *controller) newTrial() bool {
	if c.capSamples && len(c.trials) >= c.numSamples() {
		c.searchDone = true
		return false
	}
	id := fmt.Sprintf("%05d", len(c.trials))
	cfg, err := c.search.Suggest(id)
	switch {
	case errors.Is(err, ErrSearchFinished):
		c.searchDone = true
		return false
	case err != nil:
		c.fail(fmt.Errorf("tune: searcher: %w", err))
		return false
	case cfg == nil:
		return false
	}
	c.addTrial(id, cfg)
	if c.capSamples && len(c.trials) >= c.numSamples() {
		c.searchDone = true
	} else if e, ok := c.search.(exhaustible); ok && e.exhausted() {
		c.searchDone = true
	}
	return true
}

func (c *controller) addTrial(id string, cfg Config) *Trial {
	t := &Trial{id: id, index: len(c.trials), dir: filepath.Join(c.expDir, "trial_"+id),
		config: cfg, status: StatusPending}
	c.trials = append(c.trials, t)
	c.byID[id] = t
	c.sched.OnTrialAdd(t)
	c.state.markChanged()
	return t
}

// startRun starts or resumes t on a new actor.
func (c *controller) startRun(t *Trial) {
	t.runs++
	ctx, cancel := context.WithCancel(c.runCtx)
	t.run = &trialRun{n: t.runs, cancel: cancel}
	if t.started.IsZero() {
		t.started = time.Now()
	}
	prev := t.status
	t.status = StatusRunning
	c.running++
	c.state.markChanged()
	c.progress.onStatus(t, prev)
	spec := runSpec{Trainable: c.trainable, TrialID: t.id, Run: t.runs, Config: t.config, Dir: t.dir,
		Restore: t.checkpoint, StartIter: t.checkpointIter, StartTime: t.checkpointTime, CkptSeq: t.ckptSeq}
	if !c.tr.resumable || spec.Restore == "" { // it starts over
		spec.Restore, spec.StartIter, spec.StartTime = "", 0, 0
	}
	// The run reports again what came after its starting point: those
	// results go, from the trial and from its logs.
	t.rewind(spec.StartIter)
	cut := -1
	if t.loggedIter > spec.StartIter {
		cut, t.loggedIter = spec.StartIter, spec.StartIter
	}
	res := c.tr.actor
	rl := c.logs.start(t, spec, cut)
	c.logsToGo++
	t.logsToGo++
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		err := c.drive(ctx, spec, res, rl)
		rl.close()
		c.events <- doneEvent{t: t, run: spec.Run, err: err}
	}()
}

func (c *controller) onReport(ev *reportEvent) {
	t := c.byID[ev.trial]
	if t != nil && ev.metrics != nil { // the run's logs have it
		t.loggedIter = max(t.loggedIter, int(ev.metrics["training_iteration"]))
	}
	if t == nil || t.run == nil || t.run.n != ev.run {
		ev.reply <- Stop
		return
	}
	if ev.metrics == nil { // a checkpoint without a result
		if ev.ckpt != "" {
			c.addCheckpoint(t, ev.ckpt, ev.ckptSeq, t.last)
			c.state.dirty = true
		}
		ev.reply <- t.run.decision
		return
	}
	m := ev.metrics
	if c.metric != "" {
		if _, ok := m[c.metric]; !ok {
			c.fail(invalid("trial %s reported %s without TuneConfig.Metric %q", t.id, metricNames(m), c.metric))
			t.run.decision = Stop
			ev.reply <- Stop
			return
		}
	}
	t.last = m
	t.history = append(t.history, m)
	if ev.ckpt != "" {
		c.addCheckpoint(t, ev.ckpt, ev.ckptSeq, m)
		c.state.dirty = true // a restored trial resumes from it
	}
	c.search.OnTrialResult(t.id, m)
	d := Continue
	switch {
	case c.stopping != notStopping || t.stopAsked:
		d = Stop
	case c.shouldStop(t, m):
		d = Stop
	default:
		d = c.sched.OnTrialResult(t, m)
	}
	if s := c.t.RunConfig.Stopper; s != nil && s.StopAll() {
		d = Stop
		c.beginStop(stopBudget)
	}
	if t.stopAsked {
		d = Stop
	}
	t.run.decision = d
	ev.reply <- d
	c.progress.onResult(t, m, d)
}

// shouldStop applies RunConfig.Stop and RunConfig.Stopper.
func (c *controller) shouldStop(t *Trial, m map[string]float64) bool {
	for k, v := range c.t.RunConfig.Stop {
		if x, ok := m[k]; ok && x >= v {
			return true
		}
	}
	s := c.t.RunConfig.Stopper
	return s != nil && s.StopTrial(t.id, m)
}

// addCheckpoint records a persisted checkpoint and drops the oldest beyond
// CheckpointConfig.NumToKeep.
func (c *controller) addCheckpoint(t *Trial, dir string, seq int, m map[string]float64) {
	t.checkpoint = dir
	t.checkpointIter = int(m["training_iteration"])
	t.checkpointTime = m["time_total_s"]
	t.ckptSeq = max(t.ckptSeq, seq)
	t.checkpoints = append(t.checkpoints, dir)
	if keep := c.t.RunConfig.CheckpointConfig.NumToKeep; keep > 0 {
		for len(t.checkpoints) > keep {
			if old := t.checkpoints[0]; old != t.checkpoint {
				_ = os.RemoveAll(old)
			}
			t.checkpoints = t.checkpoints[1:]
		}
	}
}

func (c *controller) onDone(ev doneEvent) {
	t := ev.t
	if t.run == nil || t.run.n != ev.run {
		return
	}
	d := t.run.decision
	t.run = nil
	c.running--
	c.state.markChanged()
	prev := t.status
	err := ev.err
	if err != nil {
		ended := d != Continue || t.stopAsked || c.stopping != notStopping
		if errors.Is(err, ErrTrialStopped) ||
			(ended && (errors.Is(err, context.Canceled) || errors.Is(err, core.ErrActorDied))) {
			err = nil
		}
	}
	switch {
	case ev.err == nil && d == Continue: // the trainable finished on its own
		c.complete(t)
	case err != nil:
		c.onFailure(t, err)
	case c.stopping == stopInterrupt:
		t.status = StatusPending // resumable by Restore
	case d == Pause && !t.stopAsked && c.stopping == notStopping:
		t.status = StatusPaused
	default:
		c.complete(t)
	}
	c.progress.onStatus(t, prev)
}

func (c *controller) complete(t *Trial) {
	t.status = StatusTerminated
	if !t.schedStopped {
		c.sched.OnTrialComplete(t, t.last)
	}
	c.search.OnTrialComplete(t.id, t.last, nil)
}

func (c *controller) onFailure(t *Trial, err error) {
	t.failures++
	t.err = fmt.Errorf("trial %s: %w", t.id, err)
	max := c.t.RunConfig.FailureConfig.MaxFailures
	if c.stopping == notStopping && (max == -1 || t.failures <= max) {
		t.status = StatusPending // retried from its latest checkpoint
		// What came after that checkpoint will be reported again:
		// schedulers deciding meanwhile (PBT comparing trials) see the
		// trial at its checkpoint.
		if t.checkpoint != "" && c.tr.resumable {
			t.rewind(t.checkpointIter)
		} else {
			t.rewind(0)
		}
		return
	}
	t.status = StatusError
	c.sched.OnTrialError(t)
	c.search.OnTrialComplete(t.id, t.last, t.err)
	if c.t.RunConfig.FailureConfig.FailFast {
		c.fail(fmt.Errorf("tune: FailFast: %w", t.err))
	}
}

// fail ends the experiment with err.
func (c *controller) fail(err error) {
	if c.fatal == nil {
		c.fatal = err
	}
	c.beginStop(stopFatal)
}

// beginStop ends the experiment: no new trials, running ones are cancelled.
func (c *controller) beginStop(r stopReason) {
	if c.stopping != notStopping {
		return
	}
	c.stopping = r
	for _, t := range c.trials {
		if t.run != nil {
			t.run.cancel()
		}
	}
}

// Trials implements TrialRunner.
func (c *controller) Trials() []*Trial { return c.trials }

// SearchFinished implements TrialRunner.
func (c *controller) SearchFinished() bool { return c.searchDone }

// StopTrial implements TrialRunner.
func (c *controller) StopTrial(t *Trial) {
	t.stopAsked, t.schedStopped = true, true
	if t.status == StatusPending || t.status == StatusPaused {
		prev := t.status
		t.status = StatusTerminated
		c.search.OnTrialComplete(t.id, t.last, nil)
		c.state.markChanged()
		c.progress.onStatus(t, prev)
	}
}

// Exploit implements TrialRunner.
func (c *controller) Exploit(t, donor *Trial, config Config) error {
	if c.replaying {
		return fmt.Errorf("tune: no exploit while restoring")
	}
	if donor.checkpoint == "" {
		return fmt.Errorf("tune: trial %s has no checkpoint", donor.id)
	}
	src, err := checkpoint.FromDirectory(donor.checkpoint)
	if err != nil {
		return err
	}
	seq := t.ckptSeq + 1
	dst := filepath.Join(t.dir, fmt.Sprintf("checkpoint_%06d", seq))
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := src.ToDirectory(dst); err != nil {
		return err
	}
	t.config = config
	c.addCheckpoint(t, dst, seq, map[string]float64{
		"training_iteration": float64(donor.checkpointIter), "time_total_s": donor.checkpointTime})
	c.state.markChanged()
	return nil
}
