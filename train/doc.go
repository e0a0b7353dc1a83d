// Package train runs data-parallel training on core actors and turns what
// it produces into predictors. A DataParallelTrainer starts
// ScalingConfig.NumWorkers worker actors that run the same training loop,
// each on its own streaming shard of every dataset; the loop talks to the
// other workers through collectives (AllReduce, Broadcast, AllGather,
// Barrier) on its Context and hands each iteration's metrics and checkpoint
// to the driver with Report. The driver appends result.json, keeps
// checkpoints under RunConfig.StoragePath/Name (ranked and pruned by
// CheckpointConfig), applies stop conditions, and restarts a failed group
// from the latest checkpoint up to FailureConfig.MaxFailures. The gbdt and nn
// trainers are loops on this framework; a Trainer's Fit returns a Result
// whose checkpoint PredictorFor turns back into a Predictor over Arrow
// record batches.
//
// The first call is Fit on a DataParallelTrainer:
//
//	trainer := &train.DataParallelTrainer{
//		TrainLoop: func(tc train.Context, config map[string]any) error {
//			for epoch := 1; epoch <= 10; epoch++ {
//				loss := step(tc.DatasetShard("train"))
//				if err := tc.Report(map[string]float64{"loss": loss}, nil); err != nil {
//					return err // train.ErrStopRequested: a stop condition was met
//				}
//			}
//			return nil
//		},
//		Datasets:      map[string]*data.Dataset{"train": ds},
//		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
//		RunConfig:     train.RunConfig{StoragePath: "/tmp/results", Name: "sgd"},
//	}
//	result, err := trainer.Fit(ctx)
//
// # Files
//
// A run writes only under its run directory, RunConfig.StoragePath/Name. With
// no StoragePath the root is ~/goray_results, and the first run that uses
// it logs so once. Files a loop writes before handing them to Report (a
// checkpoint being built) belong in TempDir, which Fit removes when it
// returns.
//
// # Configuration
//
// Everything a run is told comes in through the trainer's fields: the
// context passed to Fit only cancels it. RunConfig.Callbacks observe every
// report on the driver (and may stop the run); a tuner reaches a trainer
// through RunConfigurableTrainer.WithRunConfig, which it uses to put the run
// directory inside the trial directory and to append the hook that feeds
// its scheduler.
package train
