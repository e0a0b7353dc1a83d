// Package data is goray's dataset layer: a lazy plan over blocks of Apache
// Arrow record batches, executed as core tasks and actors by a streaming
// executor that bounds the bytes in flight, so a dataset larger than memory
// streams through.
//
// Nothing runs until a dataset is consumed (Count, Take, IterBatches,
// Materialize, a writer...). Blocks are core objects, at most
// Context.TargetMaxBlockSize bytes each (512 MiB by default); when the object
// store is full they spill to disk through an Arrow IPC codec.
//
// The first call a user makes is a reader:
//
//	ds, err := data.ReadCSV(ctx, "breast_cancer.csv")
//	train, valid, err := ds.TrainTestSplit(0.2, true, 42)
//	test := valid.DropColumns("target")
//	for batch, err := range train.IterBatches(ctx, data.BatchSize(64)) { ... }
//
// Record ownership: functions passed to MapBatches must not release their
// input and return a record they own; the executor releases it. Records
// yielded by IterBatches are valid until the next iteration; Retain one to
// keep it. Blocks held by the object store use the Go allocator and are freed
// by the garbage collector once no ref reaches them.
package data
