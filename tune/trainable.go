package tune

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// Context is what a function trainable gets: a context.Context cancelled
// when the trial must end at once, plus the reporting API.
type Context interface {
	context.Context
	// Report sends one iteration's metrics, and optionally a checkpoint,
	// to the tuner and blocks until the scheduler has decided. It returns
	// ErrTrialStopped once the trial is stopped or paused: the trainable
	// should then return (that error or nil). The checkpoint is copied into
	// the trial directory before Report returns, so the caller may delete
	// its own copy. Report fills in training_iteration, time_this_iter_s,
	// time_total_s, timestamp and iterations_since_restore.
	Report(metrics map[string]float64, ckpt *checkpoint.Checkpoint) error
	// Checkpoint is the checkpoint to resume from (after a pause, a retry,
	// a PBT exploit or Restore), nil on a fresh start.
	Checkpoint() *checkpoint.Checkpoint
	// Iteration is the training_iteration of the last report, counting
	// those before the checkpoint resumed from.
	Iteration() int
	// TrialID and TrialDir identify the trial.
	TrialID() string
	TrialDir() string
}

// TrainableFunc is the function form of a trainable: it trains with config,
// calling tc.Report once per iteration.
type TrainableFunc func(tc Context, config Config) error

// ConfigurableTrainer is a train.Trainer that Tune can tune: WithConfig
// returns a copy of the trainer with the trial's sampled config merged into
// its own. Maps merge deeply: {"params": {"max_depth": 3}} changes one GBDT
// param and keeps the others; any other value replaces the trainer's.
type ConfigurableTrainer interface {
	train.Trainer
	WithConfig(config map[string]any) (train.Trainer, error)
}

// ReportingTrainer is a train.Trainer that can send each iteration's
// metrics (and checkpoint) to a callback while it fits. Under Tune, the
// callback is the trial's Context.Report: the scheduler sees every
// iteration, and a non-nil error from it (ErrTrialStopped) must make Fit
// return early (returning that error, or a Result with what it has).
// Trainers that do not implement it are reported once, with their final
// Result, after Fit.
type ReportingTrainer interface {
	train.Trainer
	WithReporter(report func(metrics map[string]float64, ckpt *checkpoint.Checkpoint) error) train.Trainer
}

// ResumableTrainer is a train.Trainer that can continue from a checkpoint
// it wrote (a paused HyperBand or PBT trial, a retried failure, Restore).
// WithResumeFrom returns a copy that starts from ckpt; the iterations it
// then reports continue the numbering of the checkpoint's. Trainers that do
// not implement it start over whenever a trial resumes.
type ResumableTrainer interface {
	train.Trainer
	WithResumeFrom(ckpt *checkpoint.Checkpoint) train.Trainer
}

// Resources is what one trial holds while it runs; its actor is created
// with them, so the core scheduler never runs more trials than fit.
type Resources struct {
	CPU, GPU float64
	// Custom resources, by name.
	Custom map[string]float64
}

// ResourceRequester is implemented by trainers that know what one trial
// needs (a 2-worker GBDT trainer: 2 CPUs). The trial's actor holds these
// resources for the trial's life: a trainer that implements it must not ask
// the core runtime for them again for its own workers.
type ResourceRequester interface {
	TrialResources() Resources
}

// WithResources wraps a trainable (function or trainer) so that each of
// its trials holds r. Function trainables hold 1 CPU by default, trainers
// what ResourceRequester says or nothing.
func WithResources(trainable any, r Resources) any { return withResources{inner: trainable, res: r} }

type withResources struct {
	inner any
	res   Resources
}

// trainable is the normalised form of Tuner.Trainable.
type trainable struct {
	name string
	fn   TrainableFunc
	res  Resources
	// resumable: a run can continue from the trial's checkpoint; if not,
	// resumed trials start over.
	resumable bool
}

func newTrainable(v any, spaceEmpty bool) (*trainable, error) {
	var res *Resources
	if w, ok := v.(withResources); ok {
		if w.res.CPU < 0 || w.res.GPU < 0 {
			return nil, invalid("WithResources: CPU %v and GPU %v must not be negative", w.res.CPU, w.res.GPU)
		}
		r := w.res
		res = &r
		v = w.inner
	}
	tr := &trainable{resumable: true}
	switch f := v.(type) {
	case nil:
		return nil, invalid("Tuner.Trainable is nil")
	case func(Context, Config) error:
		tr.fn, tr.name = f, "func"
		tr.res = Resources{CPU: 1}
	case TrainableFunc:
		tr.fn, tr.name = f, "func"
		tr.res = Resources{CPU: 1}
	case train.Trainer:
		ct, configurable := f.(ConfigurableTrainer)
		if !configurable && !spaceEmpty {
			return nil, invalid("Tuner.Trainable %T does not implement tune.ConfigurableTrainer (WithConfig), so the param space cannot be applied to it", f)
		}
		if rr, ok := f.(ResourceRequester); ok {
			tr.res = rr.TrialResources()
		}
		_, tr.resumable = f.(ResumableTrainer)
		tr.name = strings.TrimPrefix(fmt.Sprintf("%T", f), "*")
		tr.fn = func(tc Context, config Config) error { return runTrainer(tc, f, ct, config) }
	default:
		return nil, invalid("Tuner.Trainable is %T; want func(tune.Context, tune.Config) error or a train.Trainer", v)
	}
	if res != nil {
		tr.res = *res
	}
	if i := strings.LastIndex(tr.name, "."); i >= 0 {
		tr.name = tr.name[i+1:]
	}
	return tr, nil
}

// runTrainer runs one trial of a train.Trainer trainable.
func runTrainer(tc Context, base train.Trainer, ct ConfigurableTrainer, config Config) error {
	tr := base
	if ct != nil {
		var err error
		if tr, err = ct.WithConfig(map[string]any(config)); err != nil {
			return fmt.Errorf("%w: WithConfig: %w", ErrInvalidInput, err)
		}
	}
	if ck := tc.Checkpoint(); ck != nil {
		if rt, ok := tr.(ResumableTrainer); ok {
			tr = rt.WithResumeFrom(ck)
		}
	}
	reported := false
	if rt, ok := tr.(ReportingTrainer); ok {
		tr = rt.WithReporter(func(m map[string]float64, ckpt *checkpoint.Checkpoint) error {
			reported = true
			return tc.Report(m, ckpt)
		})
	}
	res, err := tr.Fit(tc)
	if err == nil && res != nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		return err // ErrTrialStopped included: the trial ends normally
	}
	if !reported && res != nil {
		return tc.Report(res.Metrics, res.Checkpoint)
	}
	return nil
}

// metricNames lists a result's keys, sorted, for error messages.
func metricNames(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "[" + strings.Join(keys, " ") + "]"
}
