// Package nn is a small neural-network API on gorgonia. An architecture is a
// Spec: the shape of one example, a list of serialisable layer configs and a
// loss. A Model holds its weights, a Learner trains it one data-parallel step
// at a time, and a Predictor scores batches of any size from a checkpoint.
//
//	spec := nn.Sequential([]int{3, 32, 32},
//		nn.Conv2D(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2D(2),
//		nn.Flatten(), nn.Dense(32*16*16, 10))
//	model, err := nn.NewModel(spec, 1) // seed
//	learner, err := nn.NewLearner(model, nn.LearnerConfig{Optimizer: nn.SGD(0.05, 0.9)})
//	stats, err := learner.Step(ctx, nn.Batch{X: x, Labels: y}, train.Solo())
//
// Layers: Dense, Conv2D, MaxPool2D, ReLU, Dropout, Flatten, BatchNorm. Losses:
// SoftmaxCrossEntropy (labels) and MeanSquaredError (targets). Optimizers: SGD
// with momentum and Adam; a Schedule (plain data: constant, step or cosine)
// sets the learning rate of every step.
//
// # Data parallelism
//
// Learner.Step computes the gradient of the loss summed over the worker's
// batch, averages it with the other workers through a train.Collective
// (AllReduce with train.Mean, combined in rank order; together
// with the loss, accuracy, example count and batch-norm statistics), divides
// by the global number of examples and applies the optimizer. Every worker
// therefore applies the same update and the weights stay identical; one
// worker on the whole batch reaches the same weights as several on its shards
// (up to float32 rounding). Within a worker the batch is split across
// Replicas gorgonia graphs run at once, one per core, each with its own copy
// of the weights. Gradients and Apply expose the two halves of a step for
// frameworks that run the all-reduce themselves.
//
// Trainer runs this on a train.DataParallelTrainer: each worker reads its
// shard of Datasets["train"] (a list column of inputs and a label column),
// steps with the worker's tc.Collective(), evaluates
// Datasets["valid"] after every epoch and reports the metrics with a
// checkpoint; it implements tune's ConfigurableTrainer ("lr", "momentum",
// "batch_size", ...) and ResumableTrainer, and train.RunConfigurableTrainer.
// Its loop is registered as "nn.Trainer" and receives the TrainerConfig in
// its encoded config, so the workers need nothing from the driver's memory.
//
// Gorgonia graphs have fixed shapes: learners and predictors build one graph
// per batch size and core, all fed from the same master weights (float64).
// Graphs compute in float32; the gradient checks use float64 graphs. The
// layers are custom gorgonia operations (ops.go) calling a packed matrix
// product with a Go-assembly AVX2/FMA kernel; a ReLU followed by a max-pool
// runs as one operation.
//
// # Checkpoints
//
// Learner.Save and SaveModel write a checkpoint (package checkpoint,
// framework "nn", format version 1) holding:
//
//	metadata.json     framework, format version, input feature columns
//	model.json        ModelInfo: the Spec, class names, fitted input Normalization
//	weights.bin       parameters and batch-norm statistics (FORMAT below, float64)
//	optimizer.json    optimizer config, step count, dropout seed, slot names (Learner.Save only)
//	optimizer.bin     optimizer slots: "velocity", or Adam's "m" and "v" (FORMAT below)
//	preprocessor.json the fitted preprocess-package preprocessor, when given
//
// Resume rebuilds a Learner that continues exactly where the saved one
// stopped. LoadModel, Resume and LoadPredictor refuse a checkpoint whose
// architecture differs from the expected Spec with ErrArchitectureMismatch.
//
// # FORMAT
//
// weights.bin and optimizer.bin are "named tensor files". All integers are
// little-endian, values are IEEE 754 little-endian:
//
//	magic    8 bytes  "GORAYNN\x00"
//	version  uint32   1
//	count    uint32   number of tensors
//	count times:
//	  name_len uint16, name [name_len]byte (UTF-8)
//	  dtype    uint8    1 = float32, 2 = float64
//	  rank     uint8
//	  dims     [rank]uint32
//	  data     prod(dims) values of dtype, row-major (C order)
//	crc32    uint32   IEEE CRC-32 of every preceding byte
//
// Tensors appear in the order of Spec.Params(), named
// "<layer index>.<kind>.<weight|bias|gamma|beta|running_mean|running_var>".
// Layouts: dense weight (in, out); conv2d weight (out, in, k, k); biases and
// batch-norm vectors (channels). Readers accept float32 or float64 and refuse
// a newer version; the file testdata/weights_v1.bin pins the encoding.
//
// # Faster BLAS
//
// The default build is pure Go. Built with -tags openblas (and cgo, with
// Debian's libopenblas-dev installed), matrix products go through OpenBLAS
// with one thread per call (OPENBLAS_NUM_THREADS=1); cores are used by running
// one graph per core instead.
package nn

import _ "go4.org/unsafe/assume-no-moving-gc" // gorgonia refuses to start under Go ≥ 1.22 without it
