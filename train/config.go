package train

import (
	"errors"
	"fmt"
	"log"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray/goray/core"
)

// Sentinel errors of the train framework.
var (
	// ErrInvalidConfig: a trainer's configuration is wrong; the message names the field.
	ErrInvalidConfig = errors.New("train: invalid config")
	// ErrWorkerFailed: a training worker failed more often than FailureConfig allows.
	ErrWorkerFailed = errors.New("train: worker failed")
	// ErrStopRequested is returned by Context.Report when the run should stop
	// (a RunConfig.Stop condition was met, or a tuner stopped the trial). A
	// training loop returns it as is; Fit treats it as a clean finish.
	ErrStopRequested = errors.New("train: stop requested")
	// ErrGroupAborted: a collective was interrupted because another worker failed.
	ErrGroupAborted = errors.New("train: worker group aborted")
)

// The sentinels keep their identity (errors.Is) when they cross from a
// worker to the driver.
func init() {
	core.RegisterError("train.ErrInvalidConfig", ErrInvalidConfig)
	core.RegisterError("train.ErrWorkerFailed", ErrWorkerFailed)
	core.RegisterError("train.ErrStopRequested", ErrStopRequested)
	core.RegisterError("train.ErrGroupAborted", ErrGroupAborted)
}

// ScalingConfig says how many workers train and what each one holds.
type ScalingConfig struct {
	// NumWorkers is the number of data-parallel workers (default 1).
	NumWorkers int
	// UseGPU gives each worker one GPU (unless ResourcesPerWorker says otherwise).
	UseGPU bool
	// ResourcesPerWorker: "CPU", "GPU" and custom resources per worker
	// (default {"CPU": 1}).
	ResourcesPerWorker map[string]float64
	// PlacementStrategy is "PACK" (default) or "SPREAD". The embedded runtime
	// has one node, where both place every worker locally.
	PlacementStrategy string
}

// Validate checks the config and names the bad field.
func (s ScalingConfig) Validate() error {
	if s.NumWorkers < 0 {
		return fmt.Errorf("%w: ScalingConfig.NumWorkers = %d: must be >= 0 (0 means 1)", ErrInvalidConfig, s.NumWorkers)
	}
	for k, v := range s.ResourcesPerWorker {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: ScalingConfig.ResourcesPerWorker[%q] = %v: must be a finite number >= 0", ErrInvalidConfig, k, v)
		}
	}
	switch s.PlacementStrategy {
	case "", "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD":
	default:
		return fmt.Errorf("%w: ScalingConfig.PlacementStrategy = %q: want PACK, SPREAD, STRICT_PACK or STRICT_SPREAD", ErrInvalidConfig, s.PlacementStrategy)
	}
	return nil
}

func (s ScalingConfig) workers() int {
	if s.NumWorkers == 0 {
		return 1
	}
	return s.NumWorkers
}

// CheckpointConfig decides which checkpoints a run keeps.
type CheckpointConfig struct {
	// NumToKeep keeps the best N checkpoints (0 keeps all).
	NumToKeep int
	// ScoreAttribute is the metric that ranks checkpoints; empty ranks by recency.
	ScoreAttribute string
	// ScoreOrder is "max" (default) or "min".
	ScoreOrder string
}

// FailureConfig says how often a run may fail and restart.
type FailureConfig struct {
	// MaxFailures is how many times the worker group restarts from the
	// latest checkpoint after a worker failed (-1: no limit).
	MaxFailures int
}

// RunConfig names a run, says where and how its results persist and who
// observes its reports. It is the whole of a run's driver-side
// configuration: nothing reaches a trainer through its context but
// cancellation.
type RunConfig struct {
	// Name of the run; its files go to StoragePath/Name, the run
	// directory, and nowhere else. Default: the trainer's kind and the
	// start time.
	Name string
	// StoragePath is the root for results (default ~/goray_results,
	// logged once when used). A tuner sets StoragePath and Name so that a
	// trial's run directory is inside the trial directory.
	StoragePath string
	// CheckpointConfig decides which checkpoints are kept.
	CheckpointConfig CheckpointConfig
	// FailureConfig decides how failures are retried.
	FailureConfig FailureConfig
	// Stop ends the run once a reported metric reaches a value (>=), e.g.
	// {"training_iteration": 10} or {"valid-auc": 0.99}.
	Stop map[string]float64
	// Callbacks observe every report of the run, in order, on the driver:
	// rank 0's metrics (with training_iteration and time_total_s filled
	// in) and its checkpoint as persisted in the run directory (nil when
	// the report had none). One returning stop=true ends the run after
	// this iteration, as a Stop condition does; one returning an error
	// fails the worker group with it (a failure FailureConfig may retry).
	// A tuner adds the hook that feeds its scheduler here.
	Callbacks []ReportFunc
}

// Clone returns a copy of r that shares no slice or map with it.
func (r RunConfig) Clone() RunConfig {
	r.Stop = maps.Clone(r.Stop)
	r.Callbacks = slices.Clone(r.Callbacks)
	return r
}

// RunConfigurableTrainer is a Trainer whose RunConfig can be changed from
// outside: WithRunConfig returns a copy of the trainer whose RunConfig is
// edit applied to a copy of its own. A tuner uses it to put a trial's run
// directory inside the trial directory (StoragePath, Name) and to see every
// report (Callbacks). DataParallelTrainer, gbdt.Trainer and nn.Trainer
// implement it.
type RunConfigurableTrainer interface {
	Trainer
	WithRunConfig(edit func(*RunConfig)) Trainer
}

// Validate checks the config and names the bad field.
func (r RunConfig) Validate() error {
	switch r.CheckpointConfig.ScoreOrder {
	case "", "max", "min":
	default:
		return fmt.Errorf("%w: RunConfig.CheckpointConfig.ScoreOrder = %q: want max or min", ErrInvalidConfig, r.CheckpointConfig.ScoreOrder)
	}
	if r.CheckpointConfig.NumToKeep < 0 {
		return fmt.Errorf("%w: RunConfig.CheckpointConfig.NumToKeep = %d: must be >= 0", ErrInvalidConfig, r.CheckpointConfig.NumToKeep)
	}
	if r.FailureConfig.MaxFailures < -1 {
		return fmt.Errorf("%w: RunConfig.FailureConfig.MaxFailures = %d: must be >= -1", ErrInvalidConfig, r.FailureConfig.MaxFailures)
	}
	for i, cb := range r.Callbacks {
		if cb == nil {
			return fmt.Errorf("%w: RunConfig.Callbacks[%d] is nil", ErrInvalidConfig, i)
		}
	}
	return nil
}

// RunDir returns StoragePath/Name with defaults filled in: an empty
// StoragePath is ~/goray_results (logged the first time it is used), an
// empty Name is kind, the start time and a sequence number.
func (r RunConfig) RunDir(kind string) string {
	root := r.StoragePath
	if root == "" {
		root = DefaultStoragePath()
		defaultLogOnce.Do(func() {
			log.Printf("goray: RunConfig.StoragePath is empty: results go under %s", root)
		})
	}
	name := r.Name
	if name == "" {
		// Unique even for trials started in the same millisecond.
		name = fmt.Sprintf("%s_%s_%d_%d", kind, time.Now().Format("2006-01-02_15-04-05.000"), os.Getpid(), runSeq.Add(1))
	}
	return filepath.Join(root, name)
}

// DefaultStoragePath is where results go when no storage path is given:
// ~/goray_results, or goray_results in the temporary directory when there is
// no home directory.
func DefaultStoragePath() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, "goray_results")
}

var defaultLogOnce sync.Once

var runSeq atomic.Int64

// ScaledTrainer is a Trainer that says what one Fit holds: its workers and
// their resources. A tuner sizes concurrent trials by it, so trials never
// hold part of their workers each and wait on one another for the rest.
type ScaledTrainer interface {
	Trainer
	ScalingConfig() ScalingConfig
}
