package tune

import (
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Tuner runs a hyperparameter sweep. Build it as a struct literal and call
// Fit; or get one from Restore to finish an interrupted experiment.
type Tuner struct {
	// Trainable is a func(tune.Context, tune.Config) error (or
	// TrainableFunc), a Registered trainable (see Register), a
	// train.Trainer (a ConfigurableTrainer when ParamSpace is not empty),
	// or any of them wrapped by WithResources or WithoutResume.
	Trainable any
	// ParamSpace is the search space: nested maps whose leaves are
	// constants or Domains (Uniform, Choice, GridSearch, ...).
	ParamSpace map[string]any
	TuneConfig TuneConfig
	RunConfig  RunConfig

	restored *experimentState // set by Restore
}

// TuneConfig says what to optimise and how to search.
type TuneConfig struct {
	// Metric and Mode ("min" or "max") are what schedulers and searchers
	// optimise and the default for ResultGrid.GetBestResult. When Metric is
	// set, every result must report it.
	Metric, Mode string
	// NumSamples is the number of trials (with GridSearch: of repetitions
	// of the grid). Default 1.
	NumSamples int
	// MaxConcurrentTrials caps running trials. Default: as many as the
	// core runtime's CPUs allow given each trial's Resources.
	MaxConcurrentTrials int
	// SearchAlg suggests configs. Default: BasicVariantGenerator.
	SearchAlg Searcher
	// Scheduler stops, pauses and orders trials. Default: FIFOScheduler.
	Scheduler Scheduler
	// TimeBudget ends the experiment (stopping running trials) once it has
	// run this long. 0: no limit.
	TimeBudget time.Duration
	// Seed makes searchers and schedulers reproducible. 0 picks a random
	// seed, recorded in the experiment state.
	Seed int64
}

// RunConfig says where results go, when trials stop and how failures and
// checkpoints are handled.
type RunConfig struct {
	// Name of the experiment directory. Default: "<trainable>_<time>".
	Name string
	// StoragePath holds experiment directories. Default: ~/goray_results
	// (logged the first time it is used).
	StoragePath string
	// Stop ends a trial once a result reaches any of these values
	// (result[key] >= value), e.g. {"training_iteration": 10}.
	Stop map[string]float64
	// Stopper, if set, is asked after every result too.
	Stopper Stopper
	// FailureConfig retries failing trials.
	FailureConfig FailureConfig
	// CheckpointConfig limits the checkpoints kept per trial.
	CheckpointConfig CheckpointConfig
	// Verbose is the console output level: 0 quiet, 1 a status table
	// redrawn at most once a second, 2 the table plus a line per result
	// and per trial status change.
	Verbose int
	// Progress receives the console output. Default: os.Stdout.
	Progress io.Writer
}

// Stopper decides when trials, or the whole experiment, stop.
type Stopper interface {
	// StopTrial is asked after each result of a trial.
	StopTrial(trialID string, result map[string]float64) bool
	// StopAll ends the experiment after the current result.
	StopAll() bool
}

// FailureConfig says how failing trials are retried.
type FailureConfig struct {
	// MaxFailures is how many times a failed trial is restarted (from its
	// latest checkpoint) before it is recorded as an error; -1: forever.
	MaxFailures int
	// FailFast ends the experiment at the first trial error.
	FailFast bool
}

// CheckpointConfig says which checkpoints are kept.
type CheckpointConfig struct {
	// NumToKeep keeps the newest n checkpoints of each trial; 0 keeps all.
	NumToKeep int
}

// validate checks the configuration, naming the bad field.
func (t *Tuner) validate() error {
	c := t.TuneConfig
	if c.Mode != "" && c.Mode != "min" && c.Mode != "max" {
		return invalid("TuneConfig.Mode %q: must be \"min\" or \"max\"", c.Mode)
	}
	if (c.Metric == "") != (c.Mode == "") {
		return invalid("TuneConfig.Metric %q and TuneConfig.Mode %q: set both or neither", c.Metric, c.Mode)
	}
	if c.NumSamples < 0 {
		return invalid("TuneConfig.NumSamples %d must not be negative", c.NumSamples)
	}
	if c.MaxConcurrentTrials < 0 {
		return invalid("TuneConfig.MaxConcurrentTrials %d must not be negative", c.MaxConcurrentTrials)
	}
	if c.TimeBudget < 0 {
		return invalid("TuneConfig.TimeBudget %v must not be negative", c.TimeBudget)
	}
	if t.RunConfig.FailureConfig.MaxFailures < -1 {
		return invalid("RunConfig.FailureConfig.MaxFailures %d must be -1 or more", t.RunConfig.FailureConfig.MaxFailures)
	}
	if t.RunConfig.CheckpointConfig.NumToKeep < 0 {
		return invalid("RunConfig.CheckpointConfig.NumToKeep %d must not be negative", t.RunConfig.CheckpointConfig.NumToKeep)
	}
	for k, v := range t.RunConfig.Stop {
		if math.IsNaN(v) {
			return invalid("RunConfig.Stop[%q] is NaN", k)
		}
	}
	return validateSpace(t.ParamSpace)
}

var defaultLogOnce sync.Once

// experimentDir returns StoragePath/Name, filling in the defaults.
func (t *Tuner) experimentDir(trainableName string) (string, error) {
	if t.RunConfig.StoragePath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("tune: RunConfig.StoragePath is empty and there is no home directory: %w", err)
		}
		t.RunConfig.StoragePath = filepath.Join(home, "goray_results")
		defaultLogOnce.Do(func() {
			log.Printf("goray: tune RunConfig.StoragePath is empty: experiments go under %s", t.RunConfig.StoragePath)
		})
	}
	if t.RunConfig.Name == "" {
		t.RunConfig.Name = trainableName + "_" + time.Now().Format("2006-01-02_15-04-05")
	}
	return filepath.Join(t.RunConfig.StoragePath, t.RunConfig.Name), nil
}

// Fit runs the experiment until every trial has finished (or the time
// budget, a Stopper or ctx ends it) and returns its results. Trial
// failures do not make Fit fail: they are in ResultGrid.Errors. Fit fails
// on invalid input (naming the field), a missing metric, FailFast, or ctx;
// when ctx is cancelled the experiment state is saved first so that
// Restore can finish it, and the partial ResultGrid is returned too.
func (t *Tuner) Fit(ctx context.Context) (*ResultGrid, error) {
	c, err := newController(t)
	if err != nil {
		return nil, err
	}
	return c.run(ctx)
}
