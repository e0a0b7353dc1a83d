// Package train runs data-parallel training on core actors and turns what
// it produces into predictors. A DataParallelTrainer starts
// ScalingConfig.NumWorkers worker actors that run the same training loop,
// each on its own streaming shard of every dataset; the loop talks to the
// other workers through its Context's Collective (AllReduce, Broadcast,
// AllGather, Barrier) and hands each iteration's metrics and checkpoint
// to the driver with Report. The driver appends result.json, keeps
// checkpoints under RunConfig.StoragePath/Name (ranked and pruned by
// CheckpointConfig), applies stop conditions, and restarts a failed group
// from the latest checkpoint up to FailureConfig.MaxFailures. The gbdt and nn
// trainers are loops on this framework; a Trainer's Fit returns a Result
// whose checkpoint PredictorFor turns back into a Predictor over Arrow
// record batches.
//
// The first call is Fit on a DataParallelTrainer, whose loop is registered
// by name at package initialisation:
//
//	var sgd = train.RegisterLoop("mypkg.sgd", func(tc train.Context, config map[string]any) error {
//		epochs := config["epochs"].(int)
//		for epoch := 1; epoch <= epochs; epoch++ {
//			grad := step(tc.DatasetShard("train"))
//			if err := tc.Collective().AllReduce(tc.Context(), grad, train.Mean); err != nil {
//				return err
//			}
//			if err := tc.Report(map[string]float64{"loss": loss(grad)}, nil); err != nil {
//				return err // train.ErrStopRequested: a stop condition was met
//			}
//		}
//		return nil
//	})
//
//	trainer := &train.DataParallelTrainer{
//		TrainLoop:     sgd,
//		Config:        map[string]any{"epochs": 10},
//		Datasets:      map[string]*data.Dataset{"train": ds},
//		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
//		RunConfig:     train.RunConfig{StoragePath: "/tmp/results", Name: "sgd"},
//	}
//	result, err := trainer.Fit(ctx)
//
// # Workers
//
// Each worker is a core actor built from plain data, as it would be in
// another process: the loop's registered name, the encoded Config (each
// worker decodes its own copy, with the same Go types; RegisterConfigType
// admits struct types) and its rank. A loop therefore takes nothing from
// the driver through captured variables; what it needs goes in Config. The
// worker's link to its group's rendezvous, its dataset shards, its resume
// checkpoint and the driver's report sink are still in-process values, so
// the method that hands them over (train.worker.run) is core.LocalOnly
// until actor handles and datasets encode.
//
// # Collectives
//
// Collective is the one collective API of the train packages (AllReduce,
// AllReduceInt64, Broadcast, AllGather, Barrier), every call taking a ctx
// and combining contributions in rank order, so that every worker gets
// bit-identical results. tc.Collective() connects a DataParallelTrainer's
// workers; NewLocalGroup connects goroutines of one process; Solo is the
// group of one. The gbdt and nn trainers are built on it.
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
