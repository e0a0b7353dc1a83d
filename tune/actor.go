package tune

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
)

// A trial runs as a core actor holding the trial's resources, driven by
// the experiment's controller through method calls, as Ray Tune drives a
// Trainable through train(): the actor's constructor takes a runSpec (plain
// data: the trainable's registered name, the trial's config, where to
// resume), and each Next call returns the trainable's next report and
// carries the controller's decision on the previous one. The trainable runs
// in a goroutine of the actor's own, started by the first Next call and
// ended by a Stop or Pause decision, by Cancel, or when the actor is
// killed.

// runSpec describes one run (start or resume) of a trial.
type runSpec struct {
	Trainable string // registered name (see Register)
	TrialID   string
	Run       int
	Config    Config
	Dir       string
	Restore   string  // checkpoint directory to resume from, "" for none
	StartIter int     // training_iteration at Restore
	StartTime float64 // time_total_s at Restore
	CkptSeq   int     // checkpoints numbered so far
}

// trialReport is what a Next call returns: one result, or one checkpoint
// without a result, or the end of the run.
type trialReport struct {
	// Metrics is the result; nil for a checkpoint saved without a result
	// (a trainer's final one).
	Metrics    map[string]float64
	Checkpoint string // persisted checkpoint directory, "" for none
	CkptSeq    int    // checkpoints numbered so far
	// Done: the trainable returned; its error is the call's.
	Done bool
}

type trialActor struct {
	spec runSpec
	fn   TrainableFunc
	// life is the actor's context: core cancels it when the actor is
	// killed, and with it the trainable's.
	life context.Context

	// The fields below belong to the Next and Cancel calls, which the
	// actor runs one at a time, and to the trainable's goroutine where
	// noted.
	started bool
	waiting bool               // a report was returned and awaits its decision
	cancel  context.CancelFunc // ends the trainable's context
	reports chan trialReport   // from the trainable's Report
	reply   chan Decision      // to the trainable's Report; capacity 1
	done    chan struct{}      // closed when the trainable has returned
	err     error              // the trainable's, set before done is closed
}

var (
	trialClass = core.Actor1("tune.Trial", newTrialActor, core.MaxRestarts(0))
	// trialNext returns the trainable's next report, after handing the
	// previous one its decision (ignored by the first call).
	trialNext = core.Method1("tune.Trial.Next", (*trialActor).next)
	// trialCancel ends the trainable at once (its context is cancelled)
	// and waits until it has returned; the error is the trainable's.
	trialCancel = core.Method0("tune.Trial.Cancel", (*trialActor).cancelRun)
)

func newTrialActor(ctx context.Context, spec runSpec) (*trialActor, error) {
	fn, err := lookupTrainable(spec.Trainable)
	if err != nil {
		return nil, err
	}
	return &trialActor{spec: spec, fn: fn, life: ctx}, nil
}

func (a *trialActor) next(ctx context.Context, d Decision) (trialReport, error) {
	switch {
	case !a.started:
		if err := a.start(); err != nil {
			return trialReport{Done: true}, err
		}
	case a.waiting:
		a.waiting = false
		a.reply <- d
	}
	select {
	case r := <-a.reports:
		a.waiting = true
		return r, nil
	case <-a.done:
		return trialReport{Done: true}, a.err
	case <-ctx.Done():
		// The controller gave up on the run: end the trainable, so that
		// nothing of the run goes on once the call has returned.
		_, err := a.cancelRun(ctx)
		return trialReport{Done: true}, err
	}
}

func (a *trialActor) cancelRun(context.Context) (struct{}, error) {
	if !a.started { // the trainable never runs
		a.started, a.cancel, a.done = true, func() {}, make(chan struct{})
		a.err = fmt.Errorf("%w: trial %s run %d was cancelled before its trainable started", context.Canceled, a.spec.TrialID, a.spec.Run)
		close(a.done)
	}
	a.cancel()
	<-a.done
	return struct{}{}, a.err
}

// start runs the trainable in a goroutine the actor owns: it ends when the
// trainable returns, which a Stop or Pause decision asks for and a
// cancelled context (Cancel, or the actor killed) demands.
func (a *trialActor) start() error {
	a.started = true
	ctx, cancel := context.WithCancel(a.life)
	a.cancel = cancel
	a.reports, a.reply, a.done = make(chan trialReport), make(chan Decision, 1), make(chan struct{})
	tc := &trialContext{Context: ctx, spec: a.spec, iter: a.spec.StartIter,
		timeBase: a.spec.StartTime, ckptSeq: a.spec.CkptSeq, out: a.reports, reply: a.reply}
	if a.spec.Restore != "" {
		ck, err := checkpoint.FromDirectory(a.spec.Restore)
		if err != nil {
			cancel()
			close(a.done)
			a.err = fmt.Errorf("tune: trial %s: resume: %w", a.spec.TrialID, err)
			return a.err
		}
		tc.ckpt = ck
	}
	tc.start = time.Now()
	tc.lastReport = tc.start
	config := a.spec.Config.Clone()
	go func() {
		defer close(a.done)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				a.err = fmt.Errorf("%w: trainable panicked: %v\n%s", core.ErrWorkerCrashed, p, debug.Stack())
			}
		}()
		a.err = a.fn(tc, config)
	}()
	return nil
}

// trialContext implements Context inside a trial actor.
type trialContext struct {
	context.Context
	spec     runSpec
	ckpt     *checkpoint.Checkpoint
	iter     int
	since    int
	timeBase float64
	start    time.Time
	ckptSeq  int
	out      chan<- trialReport
	reply    <-chan Decision

	mu         sync.Mutex // trainers may report from their workers' goroutines
	lastReport time.Time
	stopped    bool
	reported   map[string]bool // source paths of the checkpoints reported
}

var _ Context = (*trialContext)(nil)

func (tc *trialContext) Checkpoint() *checkpoint.Checkpoint { return tc.ckpt }
func (tc *trialContext) Iteration() int                     { return tc.iter }
func (tc *trialContext) TrialID() string                    { return tc.spec.TrialID }
func (tc *trialContext) TrialDir() string                   { return tc.spec.Dir }

func (tc *trialContext) Report(metrics map[string]float64, ckpt *checkpoint.Checkpoint) error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.stopped {
		return ErrTrialStopped
	}
	if err := tc.Err(); err != nil {
		return err
	}
	now := time.Now()
	tc.iter++
	tc.since++
	m := make(map[string]float64, len(metrics)+5)
	maps.Copy(m, metrics)
	m["training_iteration"] = float64(tc.iter)
	m["time_this_iter_s"] = now.Sub(tc.lastReport).Seconds()
	m["time_total_s"] = tc.timeBase + now.Sub(tc.start).Seconds()
	m["timestamp"] = float64(now.UnixNano()) / 1e9
	m["iterations_since_restore"] = float64(tc.since)
	tc.lastReport = now

	r := trialReport{Metrics: m}
	if ckpt != nil {
		dir, err := tc.persist(ckpt)
		if err != nil {
			return err
		}
		r.Checkpoint, r.CkptSeq = dir, tc.ckptSeq
		tc.markReported(ckpt)
	}
	d, err := tc.send(r)
	if err != nil {
		return err
	}
	if d != Continue {
		tc.stopped = true
		return ErrTrialStopped
	}
	return nil
}

// send hands r to the Next call waiting for it and waits for the decision
// the next Next call brings.
func (tc *trialContext) send(r trialReport) (Decision, error) {
	select {
	case tc.out <- r:
	case <-tc.Done():
		return Stop, tc.Err()
	}
	select {
	case d := <-tc.reply:
		return d, nil
	case <-tc.Done():
		return Stop, tc.Err()
	}
}

func (tc *trialContext) markReported(ckpt *checkpoint.Checkpoint) {
	if tc.reported == nil {
		tc.reported = map[string]bool{}
	}
	if p, err := filepath.Abs(ckpt.Path()); err == nil {
		tc.reported[p] = true
	}
}

// saveCheckpoint makes ckpt the trial's latest checkpoint without a new
// result (a trainer's final checkpoint, written after its last report or
// after it was told to stop). Checkpoints already reported are skipped.
func (tc *trialContext) saveCheckpoint(ckpt *checkpoint.Checkpoint) error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if p, err := filepath.Abs(ckpt.Path()); err == nil && tc.reported[p] {
		return nil
	}
	dir, err := tc.persist(ckpt)
	if err != nil {
		return err
	}
	tc.markReported(ckpt)
	_, err = tc.send(trialReport{Checkpoint: dir, CkptSeq: tc.ckptSeq})
	return err
}

// checkpointSaver is implemented by trialContext.
type checkpointSaver interface {
	saveCheckpoint(ckpt *checkpoint.Checkpoint) error
}

// persist copies a reported checkpoint into the trial directory as
// checkpoint_NNNNNN, also when the trainable wrote it inside the trial
// directory: the trainable owns its copy and may delete it once Report
// returns. A name that is the checkpoint's own directory (or holds it) is
// skipped.
func (tc *trialContext) persist(ckpt *checkpoint.Checkpoint) (string, error) {
	src, err := filepath.Abs(ckpt.Path())
	if err != nil {
		src = ckpt.Path()
	}
	var dst string
	for {
		tc.ckptSeq++
		dst = filepath.Join(tc.spec.Dir, fmt.Sprintf("checkpoint_%06d", tc.ckptSeq))
		if abs, err := filepath.Abs(dst); err == nil {
			dst = abs
		}
		if dst != src && !strings.HasPrefix(src, dst+string(filepath.Separator)) {
			break
		}
	}
	if err := os.RemoveAll(dst); err != nil { // left by a killed run
		return "", err
	}
	if err := ckpt.ToDirectory(dst); err != nil {
		return "", fmt.Errorf("tune: trial %s: persist checkpoint %s: %w", tc.spec.TrialID, ckpt.Path(), err)
	}
	return dst, nil
}

// drive runs one run of a trial on a new actor: it calls Next until the
// trainable has returned, handing each report to the controller (and its
// result to the run's logs) and the controller's decision back. When ctx
// is cancelled the trainable is ended (its context is cancelled) and drive
// waits for it to return.
func (c *controller) drive(ctx context.Context, spec runSpec, res Resources, rl *runLog) error {
	opts := []core.ActorOption{core.NumCPUs(res.CPU)}
	if res.GPU > 0 {
		opts = append(opts, core.NumGPUs(res.GPU))
	}
	if len(res.Custom) > 0 {
		opts = append(opts, core.Resources(res.Custom))
	}
	h, err := trialClass.Options(opts...).Remote(ctx, spec)
	if err != nil {
		return err
	}
	defer core.Kill(h)
	reply := make(chan Decision, 1)
	d := Continue
	for {
		ref := trialNext.Remote(ctx, h, d)
		r, err := core.Get(ctx, ref)
		if err != nil && ctx.Err() != nil {
			// A Next call that was running ends the trainable before it
			// returns; Cancel makes sure, and returns its error.
			_, _ = core.Get(context.Background(), ref)
			_, err = core.Get(context.Background(), trialCancel.Remote(context.Background(), h))
			return unwrapTaskError(err)
		}
		if err != nil {
			return unwrapTaskError(err)
		}
		if r.Done {
			return nil
		}
		if r.Metrics != nil {
			rl.add(r.Metrics)
		}
		c.events <- &reportEvent{trial: spec.TrialID, run: spec.Run, metrics: r.Metrics,
			ckpt: r.Checkpoint, ckptSeq: r.CkptSeq, reply: reply}
		d = <-reply // the controller answers every report
	}
}

// unwrapTaskError returns the trainable's own error out of core's wrapping
// (panics keep core's error, with their stack).
func unwrapTaskError(err error) error {
	var te *core.TaskError
	if errors.As(err, &te) && te.Cause != nil && te.Panic == nil {
		return te.Cause
	}
	return err
}
