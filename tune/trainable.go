package tune

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

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
//
// A trial's actor finds the function by name, not by value: Register names
// it in every process of the program, and a function that was not
// registered runs only in the process that built the Tuner (under a name
// derived from it, see Register). Variables the function captures do not
// cross processes: what a trial needs travels in its Config (see
// Config.MarshalBinary for the values that can), or is loaded by the
// trainable from where every process can read it.
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
//
// Trainers need not implement it: of a train.RunConfigurableTrainer
// (train.DataParallelTrainer and the trainers built on it), Tune runs a copy
// whose RunConfig.Callbacks end with the trial's report hook, which stops
// the run when told to, and whose run directory (StoragePath/Name) is in
// the trial directory. A trainer that reports through neither is reported
// once, with its final Result, after Fit.
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
// holds in all (a 2-worker GBDT trainer: 2 CPUs, one per worker). Trainers
// acquire these resources themselves, on their worker actors, so a
// trainer trial's own actor holds none; Tune uses the figure to size
// MaxConcurrentTrials and to reject trials that cannot fit.
// train.DataParallelTrainer needs no such method: its ScalingConfig says it.
type ResourceRequester interface {
	TrialResources() Resources
}

// WithoutResume wraps a trainable whose runs cannot continue from a
// checkpoint (a trainer that cannot warm-start): a paused, retried or
// restored trial then starts over from iteration 1 instead of resuming.
func WithoutResume(trainable any) any { return withoutResume{inner: trainable} }

type withoutResume struct{ inner any }

// WithResources wraps a trainable so that each trial holds r. A function
// trial's actor holds r (default 1 CPU). For a trainer, r replaces what
// ResourceRequester or ScalingConfig say, for sizing only (see
// ResourceRequester).
func WithResources(trainable any, r Resources) any { return withResources{inner: trainable, res: r} }

type withResources struct {
	inner any
	res   Resources
}

// trainable is the normalised form of Tuner.Trainable.
type trainable struct {
	name string
	fn   TrainableFunc
	// registered is the name Register gave fn, "" if none; derived is the
	// name to hold for fn otherwise (see holdDerivedName).
	registered, derived string
	// res is what one trial holds in all; actor what its actor holds
	// (the same for functions, nothing for trainers, whose workers hold it).
	res   Resources
	actor Resources
	// resumable: a run can continue from the trial's checkpoint; if not,
	// resumed trials start over.
	resumable bool
}

func newTrainable(v any, spaceEmpty bool) (*trainable, error) {
	var res *Resources
	noResume := false
unwrap:
	for {
		switch w := v.(type) {
		case withResources:
			if w.res.CPU < 0 || w.res.GPU < 0 {
				return nil, invalid("WithResources: CPU %v and GPU %v must not be negative", w.res.CPU, w.res.GPU)
			}
			r := w.res
			res, v = &r, w.inner
		case withoutResume:
			noResume, v = true, w.inner
		default:
			break unwrap
		}
	}
	tr := &trainable{resumable: true}
	isTrainer := false
	switch f := v.(type) {
	case nil:
		return nil, invalid("Tuner.Trainable is nil")
	case func(Context, Config) error:
		tr.fn, tr.name, tr.derived = f, "func", funcName(f)
		tr.res = Resources{CPU: 1}
	case TrainableFunc:
		tr.fn, tr.name, tr.derived = f, "func", funcName(f)
		tr.res = Resources{CPU: 1}
	case Registered:
		fn, err := lookupTrainable(f.name)
		if err != nil {
			return nil, fmt.Errorf("Tuner.Trainable: %w", err)
		}
		tr.fn, tr.name, tr.registered = fn, f.name, f.name
		tr.res = Resources{CPU: 1}
	case train.Trainer:
		isTrainer = true
		ct, configurable := f.(ConfigurableTrainer)
		dp, isDP := f.(*train.DataParallelTrainer)
		if !configurable && !isDP && !spaceEmpty {
			return nil, invalid("Tuner.Trainable %T does not implement tune.ConfigurableTrainer (WithConfig), so the param space cannot be applied to it", f)
		}
		_, resumable := f.(ResumableTrainer)
		tr.resumable = resumable || isDP
		tr.res = Resources{CPU: 1}
		switch {
		case isDP && !configurable:
			tr.res = scalingResources(dp.ScalingConfig)
			tr.name = dp.Kind
		case isDP:
			tr.res = scalingResources(dp.ScalingConfig)
		}
		if st, ok := f.(train.ScaledTrainer); ok && !isDP {
			tr.res = scalingResources(st.ScalingConfig())
		}
		if rr, ok := f.(ResourceRequester); ok {
			tr.res = rr.TrialResources()
		}
		if tr.name == "" {
			tr.name = strings.TrimPrefix(fmt.Sprintf("%T", f), "*")
		}
		tr.fn = func(tc Context, config Config) error { return runTrainer(tc, f, ct, config) }
		tr.derived = fmt.Sprintf("trainer %T", f)
	default:
		return nil, invalid("Tuner.Trainable is %T; want func(tune.Context, tune.Config) error, a tune.Registered or a train.Trainer", v)
	}
	if res != nil {
		tr.res = *res
	}
	if !isTrainer {
		tr.actor = tr.res
	}
	if noResume {
		tr.resumable = false
	}
	if i := strings.LastIndex(tr.name, "."); i >= 0 {
		tr.name = tr.name[i+1:]
	}
	return tr, nil
}

// scalingResources is what a DataParallelTrainer's workers hold in all.
func scalingResources(s train.ScalingConfig) Resources {
	n := float64(max(s.NumWorkers, 1))
	per := s.ResourcesPerWorker
	if per == nil {
		per = map[string]float64{"CPU": 1}
		if s.UseGPU {
			per["GPU"] = 1
		}
	}
	r := Resources{}
	for k, v := range per {
		switch k {
		case "CPU":
			r.CPU = n * v
		case "GPU":
			r.GPU = n * v
		default:
			if r.Custom == nil {
				r.Custom = map[string]float64{}
			}
			r.Custom[k] = n * v
		}
	}
	return r
}

// DeepMerge returns a copy of base with override merged in: nested maps
// merge key by key, any other value in override replaces base's. A
// ConfigurableTrainer's WithConfig can use it to apply a trial's config.
func DeepMerge(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(override))
	for k, v := range base {
		out[k] = deepCopy(v)
	}
	for k, v := range override {
		if om, ok := asMap(v); ok {
			if bm, ok := asMap(out[k]); ok {
				out[k] = DeepMerge(bm, om)
				continue
			}
		}
		out[k] = deepCopy(v)
	}
	return out
}

// runTrainer runs one trial of a train.Trainer trainable.
func runTrainer(tc Context, base train.Trainer, ct ConfigurableTrainer, config Config) error {
	tr := base
	if dp, ok := base.(*train.DataParallelTrainer); ok && ct == nil {
		cp := *dp
		cp.Config = DeepMerge(dp.Config, config)
		cp.ResumeFromCheckpoint = tc.Checkpoint()
		tr = &cp
	} else {
		if ct != nil {
			var err error
			if tr, err = ct.WithConfig(map[string]any(config)); err != nil {
				if errors.Is(err, ErrInvalidInput) { // already says so
					return fmt.Errorf("WithConfig: %w", err)
				}
				return fmt.Errorf("%w: WithConfig: %w", ErrInvalidInput, err)
			}
		}
		if ck := tc.Checkpoint(); ck != nil {
			if rt, ok := tr.(ResumableTrainer); ok {
				tr = rt.WithResumeFrom(ck)
			}
		}
	}
	var reported atomic.Bool
	runDir, err := newTrainerRunDir(tc.TrialDir(), tc.Iteration())
	if err != nil {
		return err
	}
	rt, reporting := tr.(ReportingTrainer)
	if reporting {
		tr = rt.WithReporter(func(m map[string]float64, ckpt *checkpoint.Checkpoint) error {
			reported.Store(true)
			return tc.Report(m, ckpt)
		})
	}
	if rc, ok := tr.(train.RunConfigurableTrainer); ok {
		tr = rc.WithRunConfig(func(c *train.RunConfig) {
			// The trainer's own files go inside the trial directory,
			// whatever its RunConfig said.
			c.StoragePath, c.Name = filepath.Dir(runDir), filepath.Base(runDir)
			if !reporting {
				c.Callbacks = append(c.Callbacks, func(m map[string]float64, ckpt *checkpoint.Checkpoint) (bool, error) {
					reported.Store(true)
					err := tc.Report(m, ckpt)
					if errors.Is(err, ErrTrialStopped) {
						return true, nil
					}
					return false, err
				})
			}
		})
	}
	res, err := tr.Fit(tc)
	if err == nil && res != nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		return err // ErrTrialStopped included: the trial ends normally
	}
	switch {
	case res == nil:
	case !reported.Load():
		return tc.Report(res.Metrics, res.Checkpoint)
	case res.Checkpoint != nil:
		// A checkpoint saved after the last report (the model of a trainer
		// that was told to stop) becomes the trial's latest.
		if cs, ok := tc.(checkpointSaver); ok {
			return cs.saveCheckpoint(res.Checkpoint)
		}
	}
	return nil
}

// newTrainerRunDir picks the directory, inside the trial directory, of a
// trainer run that starts at iteration iter: train_from_iter_<iter>, with a
// suffix when an earlier run (a retry, a restored experiment) started there.
// One run of a trial runs at a time, so the first free name is its own; the
// trainer creates it.
func newTrainerRunDir(trialDir string, iter int) (string, error) {
	base := filepath.Join(trialDir, fmt.Sprintf("train_from_iter_%d", iter))
	dir := base
	for k := 2; ; k++ {
		_, err := os.Lstat(dir)
		if errors.Is(err, os.ErrNotExist) {
			return dir, nil
		}
		if err != nil {
			return "", fmt.Errorf("tune: choose the trainer's run directory: %w", err)
		}
		dir = fmt.Sprintf("%s_%d", base, k)
	}
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
