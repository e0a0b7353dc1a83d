// Package data is goray's dataset layer: a lazy plan over blocks of Apache
// Arrow record batches, executed as core tasks and actors by a streaming
// executor that bounds the bytes in flight, so a dataset larger than memory
// streams through.
//
// The first call a user makes is a reader:
//
//	ds, err := data.ReadCSV(ctx, "breast_cancer.csv")
//	train, valid, err := ds.TrainTestSplit(0.2, true, 42)
//	test := valid.DropColumns("target")
//	for batch, err := range train.IterBatches(ctx, data.BatchSize(64)) { ... }
//
// Nothing runs until a dataset is consumed (Count, Take, IterBatches,
// Materialize, a writer...). Consuming compiles the plan into stages: a
// source fused with the map operators after it runs one core task per read
// task (a byte range of a CSV file, a Parquet row group...); map operators
// after a barrier run one task per bundle of blocks, or calls on a pool of
// actors (WithActorPool); all-to-all operators (Sort, RandomShuffle,
// GroupBy, Repartition, Zip) run map/reduce tasks. Stages launch no task that
// would push the bytes produced-but-not-consumed past Context.MemoryBudget.
// Blocks are core objects of at most Context.TargetMaxBlockSize bytes (512
// MiB by default); when the object store is full they spill to disk through
// an Arrow IPC codec.
//
// A consumer running inside a core task or actor (a training worker that
// holds its CPUs for life) lends its CPUs back while it waits for the next
// block, as core.Get does, so data tasks can run even when workers hold
// every CPU.
//
// Record ownership: functions passed to MapBatches must not release their
// input and return a record they own; the executor releases it. Records
// yielded by IterBatches are valid until the next iteration; Retain one to
// keep it. Blocks held by the object store use the Go allocator and are freed
// by the garbage collector once no ref reaches them.
//
// Functions and their state: a task runs wherever the scheduler puts it,
// on a cluster in another process, where neither a func value nor the
// variables it captures exist. A function that must run there is
// registered by name at package initialisation and gets its state as
// explicit, encoded arguments, as Ray's fn_args and fn_constructor_args:
//
//	var scale = data.RegisterBatchFunc("mypkg.scale",
//		func(ctx context.Context, batch arrow.Record, a ScaleArgs) (arrow.Record, error) { ... })
//	ds = ds.MapBatchesFn(scale.FnArgs(ScaleArgs{Factor: 2}))
//
// RegisterBatchClass does the same for a stateful function built once per
// actor (a model) from FnConstructorArgs. Every task decodes its own copy
// of the arguments, in-process as on a cluster. An argument type that
// cannot be encoded panics at registration; a value that fails to encode
// fails the dataset with ErrInvalidInput naming the operator. A stage of
// registered operators (MapBatchesFn, DropColumns, SelectColumns,
// RenameColumns) over blocks (after a barrier or a materialization) or
// fused with Range runs its tasks by name with encodable arguments only:
// input refs, the registered names and encoded arguments, the block-size
// settings; stats and warnings come back in the task result. Such a task
// allocates with the Go allocator, not Context.Allocator. Functions passed
// as closures (MapBatches, Map, Filter, FlatMap, AddColumn, WithActorPool...)
// and stages fused with another source (a reader's task holds a closure)
// still run in-process only: they cannot run on a cluster, and in
// encode-all mode their tasks keep the in-process path
// (core.EncodeAllBypassed counts them).
//
// Errors: bad input (a ragged CSV row, an unknown column, a value that does
// not convert) is ErrInvalidInput, naming the file, line and column or the
// operator; an error returned by a user function fails the dataset with
// ErrOperatorFailed naming the operator and wrapping the function's error.
package data
