// Package nn is a small neural-network API on gorgonia: an architecture is a
// Spec (a list of serialisable layer configs), a Model holds its weights, a
// Learner trains it step by step (data-parallel through an AllReducer) and a
// Predictor scores batches of any size.
//
//	spec := nn.Sequential([]int{3, 32, 32},
//		nn.Conv2D(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2D(2),
//		nn.Flatten(), nn.Dense(32*16*16, 10))
//	model, err := nn.NewModel(spec, 1)
//	learner, err := nn.NewLearner(model, nn.LearnerConfig{Optimizer: nn.SGD(0.05, 0.9)})
//	stats, err := learner.Step(ctx, nn.Batch{X: x, Labels: y}, nn.LocalReducer{})
package nn

import _ "go4.org/unsafe/assume-no-moving-gc" // gorgonia refuses to start under Go ≥ 1.22 without it
