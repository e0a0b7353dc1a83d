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
// A trainable is a func(tune.Context, tune.Config) error, or a
// train.Trainer. A trainer that implements ConfigurableTrainer gets the
// sampled config merged into its own with WithConfig: maps merge deeply, so
// {"params": {"max_depth": tune.RandInt(1, 9)}} overrides one GBDT param.
// A trainer that implements ReportingTrainer gets the trial's Report as a
// callback through WithReporter and calls it once per boosting round or
// epoch, so schedulers see every iteration and can stop it early (the
// callback then returns ErrTrialStopped, which Fit returns); other trainers
// are reported once, with Fit's final Result. Function trainables can run
// trainers themselves: tune.Context is a context.Context, and
// trainer.WithReporter(tc.Report) wires the reporting.
//
// # Execution
//
// Each run of a trial is a core actor ("tune.Trial") created with the
// trial's Resources (1 CPU for functions by default; WithResources or a
// trainer's ResourceRequester change it), so the core scheduler never runs
// more trials than the runtime's resources allow; MaxConcurrentTrials caps
// them further. One controller goroutine owns every trial: a trial's Report
// sends its result to the controller and blocks until the scheduler has
// answered Continue, Pause or Stop. Pause and Stop make Report return
// ErrTrialStopped. A paused trial resumes later on a new actor from its
// latest checkpoint (Context.Checkpoint). A trial that fails is restarted
// from its latest checkpoint up to FailureConfig.MaxFailures times, then
// recorded with its error (ResultGrid.Errors) while the others go on.
//
// # Output
//
// Under StoragePath/Name, each trial directory holds params.json,
// result.json (one JSON object per result), progress.csv, TensorBoard event
// files (events.out.tfevents.*) and its checkpoints (checkpoint_NNNNNN);
// experiment_state.json lets Restore finish an interrupted experiment
// without rerunning finished trials. RunConfig.Verbose 1 prints a status
// table at most once a second, 2 adds a line per result.
package tune
