package tune

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
)

// A trial runs as a core actor holding the trial's resources: the actor's
// constructor takes a runSpec (plain data, as it would cross a process
// boundary) and its Run method runs the trainable once, from the spec's
// checkpoint if any. The trainable's reports go to the experiment's
// controller through the session registered under runSpec.Exp.

// runSpec describes one run (start or resume) of a trial.
type runSpec struct {
	Exp       string // session key
	TrialID   string
	Run       int
	Config    Config
	Dir       string
	Restore   string  // checkpoint directory to resume from, "" for none
	StartIter int     // training_iteration at Restore
	StartTime float64 // time_total_s at Restore
	CkptSeq   int     // checkpoints numbered so far
}

type trialActor struct{ spec runSpec }

var (
	trialClass = core.Actor1("tune.Trial", func(_ context.Context, spec runSpec) (*trialActor, error) {
		return &trialActor{spec: spec}, nil
	}, core.MaxRestarts(0), core.LocalOnly())
	trialRunMethod = core.Method0("tune.Trial.Run", (*trialActor).run)
)

// session is what trial actors share with their experiment's controller.
type session struct {
	fn     TrainableFunc
	events chan<- event
	logs   sync.Map // trialID#run -> *runLog
}

func logKey(trial string, run int) string { return fmt.Sprintf("%s#%d", trial, run) }

var sessions sync.Map // string -> *session

func (a *trialActor) run(ctx context.Context) (struct{}, error) {
	v, ok := sessions.Load(a.spec.Exp)
	if !ok {
		return struct{}{}, fmt.Errorf("tune: experiment %s is not running", a.spec.Exp)
	}
	s := v.(*session)
	tc := &trialContext{Context: ctx, s: s, spec: a.spec, iter: a.spec.StartIter,
		timeBase: a.spec.StartTime, ckptSeq: a.spec.CkptSeq, reply: make(chan Decision, 1)}
	if a.spec.Restore != "" {
		ck, err := checkpoint.FromDirectory(a.spec.Restore)
		if err != nil {
			return struct{}{}, fmt.Errorf("tune: trial %s: resume: %w", a.spec.TrialID, err)
		}
		tc.ckpt = ck
	}
	rl, ok := s.logs.Load(logKey(a.spec.TrialID, a.spec.Run))
	if !ok {
		return struct{}{}, fmt.Errorf("tune: trial %s run %d has no log", a.spec.TrialID, a.spec.Run)
	}
	tc.log = rl.(*runLog)
	tc.start = time.Now()
	tc.lastReport = tc.start
	return struct{}{}, s.fn(tc, a.spec.Config.Clone())
}

// trialContext implements Context inside a trial actor.
type trialContext struct {
	context.Context
	s        *session
	spec     runSpec
	log      *runLog
	ckpt     *checkpoint.Checkpoint
	iter     int
	since    int
	timeBase float64
	start    time.Time
	ckptSeq  int

	mu         sync.Mutex // trainers may report from their workers' goroutines
	lastReport time.Time
	stopped    bool
	reply      chan Decision
	reported   map[string]bool // source paths of the checkpoints reported
}

var _ Context = (*trialContext)(nil)

func (tc *trialContext) Checkpoint() *checkpoint.Checkpoint { return tc.ckpt }
func (tc *trialContext) Iteration() int                     { return tc.iter }
func (tc *trialContext) TrialID() string                    { return tc.spec.TrialID }
func (tc *trialContext) TrialDir() string                   { return tc.spec.Dir }

// reportEvent carries one result from a trial to the controller, which
// answers on reply. A nil metrics map only records a checkpoint.
type reportEvent struct {
	trial   string
	run     int
	metrics map[string]float64
	ckpt    string // persisted checkpoint directory, "" for none
	ckptSeq int
	reply   chan<- Decision
}

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

	ev := &reportEvent{trial: tc.spec.TrialID, run: tc.spec.Run, metrics: m, reply: tc.reply}
	if ckpt != nil {
		dir, err := tc.persist(ckpt)
		if err != nil {
			return err
		}
		ev.ckpt, ev.ckptSeq = dir, tc.ckptSeq
		tc.markReported(ckpt)
	}
	tc.log.add(m)
	select {
	case tc.s.events <- ev:
	case <-tc.Done():
		return tc.Err()
	}
	select {
	case d := <-tc.reply:
		if d != Continue {
			tc.stopped = true
			return ErrTrialStopped
		}
		return nil
	case <-tc.Done():
		return tc.Err()
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
	ev := &reportEvent{trial: tc.spec.TrialID, run: tc.spec.Run, ckpt: dir, ckptSeq: tc.ckptSeq, reply: tc.reply}
	select {
	case tc.s.events <- ev:
	case <-tc.Done():
		return tc.Err()
	}
	select {
	case <-tc.reply:
		return nil
	case <-tc.Done():
		return tc.Err()
	}
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

// execute runs one run of a trial on a new actor and waits for it. When
// ctx is cancelled the actor is killed (its context is cancelled) and
// execute waits for the trainable to return.
func execute(ctx context.Context, spec runSpec, res Resources) error {
	opts := []core.Option{core.NumCPUs(res.CPU)}
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
	ref := trialRunMethod.Remote(context.WithoutCancel(ctx), h)
	_, err = core.Get(ctx, ref)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		_ = core.Kill(h)
		_, err = core.Get(context.Background(), ref)
	}
	return unwrapTaskError(err)
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
