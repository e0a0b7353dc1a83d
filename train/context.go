package train

import (
	"context"
	"fmt"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

// Context is what a training loop sees on each worker: its place in the
// group, its shard of every dataset, collectives with the other workers, and
// Report to hand metrics and checkpoints to the driver.
type Context interface {
	// Context is the worker's context: cancelled when the run is aborted.
	Context() context.Context
	// WorldRank is this worker's rank, 0..WorldSize()-1.
	WorldRank() int
	// WorldSize is the number of workers.
	WorldSize() int
	// Report hands this iteration's metrics (and optionally a checkpoint)
	// to the driver. Every worker calls it once per iteration, like a
	// collective; the driver records rank 0's metrics and checkpoint. It
	// returns ErrStopRequested when the run should stop: return that error
	// from the loop.
	Report(metrics map[string]float64, ckpt *checkpoint.Checkpoint) error
	// Checkpoint is the checkpoint to resume from: the latest one reported
	// before a restart, or the trainer's ResumeFromCheckpoint; nil if none.
	Checkpoint() *checkpoint.Checkpoint
	// DatasetShard is this worker's disjoint streaming shard of the named
	// dataset (after the trainer's preprocessor), nil if there is none.
	DatasetShard(name string) *data.Dataset
	// Collective is this worker's collectives with the other workers of
	// the group (AllReduce, Broadcast, AllGather, Barrier).
	Collective() Collective
}

// workerContext is the Context of one worker.
type workerContext struct {
	ctx     context.Context
	rank    int
	size    int
	group   *core.ActorHandle[*group]
	coll    *caller
	shards  map[string]*data.Dataset
	ckpt    *checkpoint.Checkpoint
	sink    *runState
	attempt int
}

var _ Context = (*workerContext)(nil)

func (w *workerContext) Context() context.Context               { return w.ctx }
func (w *workerContext) WorldRank() int                         { return w.rank }
func (w *workerContext) WorldSize() int                         { return w.size }
func (w *workerContext) Checkpoint() *checkpoint.Checkpoint     { return w.ckpt }
func (w *workerContext) DatasetShard(name string) *data.Dataset { return w.shards[name] }
func (w *workerContext) Collective() Collective                 { return w.coll }

func (w *workerContext) Report(metrics map[string]float64, ckpt *checkpoint.Checkpoint) error {
	stop := 0.0
	if w.rank == 0 {
		s, err := w.sink.report(w.ctx, w.attempt, metrics, ckpt)
		if err != nil {
			// The other ranks wait in the decision below: fail them now.
			if w.size > 1 {
				groupAbort.Remote(w.ctx, w.group, fmt.Sprintf("rank 0 could not report: %v", err))
			}
			return err
		}
		if s {
			stop = 1
		}
	}
	// Every rank learns rank 0's decision, so all stop at the same iteration.
	dec := []float64{stop}
	if err := w.coll.AllReduce(w.ctx, dec, Max); err != nil {
		return err
	}
	if dec[0] > 0 {
		return ErrStopRequested
	}
	return nil
}

// SaveCheckpoint persists ckpt as the run's latest checkpoint without adding
// a report: its metrics are those of the last report. Trainers call it when
// their loop ends before a report carried a checkpoint (early stopping, a
// stop request). Only rank 0's call has an effect.
func SaveCheckpoint(tc Context, ckpt *checkpoint.Checkpoint) error {
	w, ok := tc.(*workerContext)
	if !ok {
		return fmt.Errorf("%w: SaveCheckpoint needs the Context of a train worker", ErrInvalidConfig)
	}
	if w.rank != 0 || ckpt == nil {
		return nil
	}
	return w.sink.saveLate(w.attempt, ckpt)
}
