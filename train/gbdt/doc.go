// Package gbdt is a native histogram gradient-boosted decision tree
// learner with XGBoost's parameters and semantics, LightGBM-format model
// output (model files are read with github.com/dmitryikh/leaves).
//
// Training data is a Matrix (MatrixFromRecords for Arrow records, NewMatrix
// for float columns). Train boosts trees and returns a Booster:
//
//	dtrain, err := gbdt.MatrixFromRecords(recs, "target", nil)
//	b, err := gbdt.Train(ctx, dtrain, map[string]*gbdt.Matrix{"train": dtrain},
//		gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3}, 100)
//	probs, err := b.Predict(dtest)
//	ckpt, err := b.SaveCheckpoint(dir)
//	p, err := gbdt.NewPredictor(ckpt) // a train.Predictor over Arrow batches
//
// Algorithm: features are cut into at most max_bin quantile bins plus one
// bin for missing values (NaN), whose direction each split learns;
// gradient/hessian histograms are built for the smaller child of a split
// and subtracted from the parent's for its sibling, on nthread goroutines;
// trees grow depth-wise, or leaf-wise when max_leaves is set; leaf weights,
// gains, L1/L2 regularisation, min_child_weight and gamma follow XGBoost's
// formulas, as does base_score (a probability for binary:logistic).
//
// Evaluation: every round's metrics come from margins kept up to date as
// trees are added (the training set's are the ones boosting keeps; each
// evaluation set adds each new tree's output to its cached margins), summed
// on nthread goroutines and all-reduced in one exchange per round.
//
// Prediction: models this package trained or wrote to a checkpoint are
// compiled into a flat, breadth-first tree layout scored in row blocks;
// its predictions are bit-identical to leaves reading the same model file.
// Models trained elsewhere are scored by leaves.
//
// Distributed training: each worker calls Train on its own row shard with
// WithCollective and its member of the group (train.Collective, the one
// collective API of the train packages); histograms are exchanged as exact
// fixed-point sums (AllReduceInt64) and the bin boundaries come from
// exactly mergeable summaries, so N workers build the same trees, bit for
// bit, as one worker holding every row (with subsample 1).
// train.NewLocalGroup connects workers that are goroutines of one process.
//
// Trainer does this on a train.DataParallelTrainer with the loop registered
// as "gbdt.Trainer", whose config (label, params, rounds, input features)
// travels encoded to the workers. Inside a worker of one's own loop (tc is
// its train.Context), each worker trains on its shard, reports every round
// and resumes after a restart:
//
//	opts := []gbdt.Option{
//		gbdt.WithCollective(tc.Collective()),
//		gbdt.WithCallback(func(round int, m map[string]float64) error { return tc.Report(m, nil) }),
//	}
//	if c := tc.Checkpoint(); c != nil {
//		init, err := gbdt.BoosterFromCheckpoint(c)
//		... opts = append(opts, gbdt.WithInitModel(init)); rounds -= init.NumRounds()
//	}
//	b, err := gbdt.Train(tc.Context(), shard, evals, params, rounds, opts...)
//
// Models trained elsewhere (LightGBM text, XGBoost legacy binary) load with
// LoadLightGBM/LoadXGBoost and become checkpoints with CheckpointFromModel.
package gbdt
