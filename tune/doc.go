// Package tune runs hyperparameter sweeps on the core runtime, like Ray
// Tune: a search space of Domains (GridSearch, Choice, Uniform, QUniform,
// LogUniform, RandInt, QRandInt, RandN, SampleFrom) nested in maps, a
// Searcher that turns it into trial configs (grid and seeded random search
// by default, TPE, ConcurrencyLimiter), and a Scheduler that stops, pauses
// and resumes trials from their results (FIFO, ASHA, HyperBand,
// MedianStoppingRule, PopulationBasedTraining).
//
// The first call is Fit on a Tuner:
//
//	tuner := tune.Tuner{
//		Trainable: func(tc tune.Context, config tune.Config) error {
//			lr, _ := config.Float("lr")
//			for i := 0; i < 100; i++ {
//				loss := step(lr)
//				if err := tc.Report(map[string]float64{"loss": loss}, nil); err != nil {
//					return err // tune.ErrTrialStopped: the scheduler stopped the trial
//				}
//			}
//			return nil
//		},
//		ParamSpace: map[string]any{"lr": tune.LogUniform(1e-4, 1e-1)},
//		TuneConfig: tune.TuneConfig{Metric: "loss", Mode: "min", NumSamples: 20,
//			Scheduler: &tune.ASHAScheduler{MaxT: 100}},
//		RunConfig: tune.RunConfig{StoragePath: "/tmp/results", Name: "lr_sweep", Verbose: 1},
//	}
//	grid, err := tuner.Fit(ctx)
//	best, err := grid.GetBestResult("", "", "last")
//
// # Trainables
//
// A trainable is a func(tune.Context, tune.Config) error (registered by
// name with Register to run in any process, see Execution), or a
// train.Trainer:
//
//   - *train.DataParallelTrainer (a GBDT or NN trainer built as one) is run as
//     is: each trial gets a copy whose Config is DeepMerge(trainer's
//     Config, sampled config), so {"params": {"max_depth":
//     tune.RandInt(1, 9)}} overrides one GBDT param and keeps the rest;
//     ResumeFromCheckpoint is the trial's checkpoint when it resumes; its
//     run files go inside the trial directory (its RunConfig's StoragePath
//     and Name, set through train.RunConfigurableTrainer).
//   - Other trainers implement ConfigurableTrainer (WithConfig, a deep
//     merge) to be tuned, and ResumableTrainer (WithResumeFrom) to resume
//     paused trials without starting over.
//   - A trainer that cannot continue from a checkpoint (gbdt cannot
//     warm-start) is wrapped in WithoutResume: paused trials start over.
//
// A checkpoint a trainer saves after its last report (train.SaveCheckpoint,
// e.g. the model of a GBDT run told to stop) becomes the trial's latest, so
// the best Result's checkpoint predicts.
//
// Each trainer report reaches the scheduler: a train.RunConfigurableTrainer
// (every trainer built on train.DataParallelTrainer) runs with the trial's
// hook appended to its RunConfig.Callbacks, called once per iteration; the
// hook answers stop=true once the scheduler stops or pauses the trial.
// Trainers outside train can implement ReportingTrainer instead; one that
// reports through neither is reported once, with its final Result. A trainer's trial holds
// its workers' resources (a 2-worker GBDT trial: 2 CPUs, from its
// ScalingConfig or ResourceRequester): the workers are core actors holding
// them, so the trial's own actor holds none.
//
// # Execution
//
// Each run of a trial is a core actor ("tune.Trial") that the experiment's
// controller drives through method calls, as Ray Tune drives a Trainable
// through train(): the actor is created from the run's spec (plain data:
// the trainable's registered name, the trial's Config, the checkpoint to
// resume from), runs the trainable in a goroutine of its own, and each
// Next call returns the trainable's next report (metrics, checkpoint, or
// the end of the run with its error) and brings the scheduler's decision
// on the previous one. A trial's Report blocks until that decision comes:
// Continue, or Pause and Stop, which make Report return ErrTrialStopped.
// The trainable's goroutine ends when the trainable returns; cancelling
// the run (the experiment is interrupted or out of time) or killing the
// actor cancels its context. Results reach the controller as call
// results; the controller writes the logs. The spec, the reports and the
// errors cross the codec (GORAY_ENCODE_ALL=1 runs them through it), so a
// trial can run in another process of the program once its trainable is
// registered there: Register at package init, and Tuner.Trainable set to
// what Register returns. A func that was not registered, or a
// train.Trainer value, is held under a name derived from it while Fit
// runs, and its trials run in the process that built the Tuner. A trial's
// state travels in its Config; values Config.MarshalBinary cannot carry
// (structs, funcs, pointers) keep a trial in its own process.
//
// A function trial's actor holds its Resources (1 CPU by default, see
// WithResources), so the core scheduler never runs more trials than the
// runtime's resources allow; MaxConcurrentTrials (default: what fits) caps
// them further. One controller goroutine owns every trial. A paused trial
// resumes later on a new actor from its latest checkpoint
// (Context.Checkpoint). A trial that fails is restarted from its latest
// checkpoint up to FailureConfig.MaxFailures times, then recorded with its
// error (ResultGrid.Errors) while the others go on. Stop conditions:
// RunConfig.Stop (metric or training_iteration thresholds), a Stopper,
// TuneConfig.TimeBudget.
//
// # Output
//
// Under StoragePath/Name, each trial directory holds params.json,
// result.json (one JSON object per result), progress.csv, TensorBoard event
// files (events.out.tfevents.*, TFRecord-framed Event protos with one
// simple_value per metric) and its checkpoints (checkpoint_NNNNNN). Logs
// are written by a small pool of writer goroutines, off the trials' report
// path. experiment_state.json, written when the experiment starts, at every
// trial status change and at most once a second for new checkpoints, lets
// Restore finish an interrupted (or killed) experiment without rerunning
// finished trials.
//
// Whenever a run resumes from a checkpoint (a retry after a failure, a
// paused trial resumed, a PBT exploit, Restore) it reports again the
// iterations after that checkpoint; as in Ray, the results after it are
// discarded: from the trial's history (what schedulers and the ResultGrid
// see; a failed trial waiting for its retry already shows only what its
// checkpoint holds) and from its result.json and progress.csv, so each
// iteration appears once. A run that starts over (no checkpoint, or
// WithoutResume) discards them all. TensorBoard event files are append-only
// and keep them.
//
// A trainer run inside a trial (anything built on
// train.DataParallelTrainer) writes its own files in the trial directory,
// train_from_iter_N, whatever its RunConfig.StoragePath says.
// RunConfig.Verbose 1 prints a status table at most once a second, 2 adds a
// line per result and per status change.
package tune
