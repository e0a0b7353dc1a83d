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
	// AllReduce combines vals across workers in place.
	AllReduce(vals []float64, op ReduceOp) error
	// Broadcast copies root's blob to every worker and returns it.
	Broadcast(blob []byte, root int) ([]byte, error)
	// AllGather returns every worker's blob, indexed by rank.
	AllGather(blob []byte) ([][]byte, error)
	// Barrier waits until every worker reaches it.
	Barrier() error
}

// workerContext is the Context of one worker.
type workerContext struct {
	ctx     context.Context
	rank    int
	size    int
	group   *core.ActorHandle[*group]
	seq     int
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

func (w *workerContext) collective(a collectiveArgs) (collectiveResult, error) {
	w.seq++
	a.Seq, a.Rank = w.seq, w.rank
	if w.size == 1 {
		return collectiveResult{Vals: a.Vals, Blob: a.Blob, Blobs: [][]byte{a.Blob}}, nil
	}
	return core.Get(w.ctx, groupCall.Remote(w.ctx, w.group, a))
}

func (w *workerContext) AllReduce(vals []float64, op ReduceOp) error {
	if op < Sum || op > Max {
		return fmt.Errorf("%w: AllReduce: unknown op %v", ErrInvalidConfig, op)
	}
	res, err := w.collective(collectiveArgs{Kind: "allreduce", Op: op, Vals: vals})
	if err != nil {
		return fmt.Errorf("AllReduce on rank %d: %w", w.rank, err)
	}
	copy(vals, res.Vals)
	return nil
}

func (w *workerContext) Broadcast(blob []byte, root int) ([]byte, error) {
	if root < 0 || root >= w.size {
		return nil, fmt.Errorf("%w: Broadcast root %d: world size is %d", ErrInvalidConfig, root, w.size)
	}
	res, err := w.collective(collectiveArgs{Kind: "broadcast", Root: root, Blob: blob})
	if err != nil {
		return nil, fmt.Errorf("Broadcast on rank %d: %w", w.rank, err)
	}
	return res.Blob, nil
}

func (w *workerContext) AllGather(blob []byte) ([][]byte, error) {
	res, err := w.collective(collectiveArgs{Kind: "allgather", Blob: blob})
	if err != nil {
		return nil, fmt.Errorf("AllGather on rank %d: %w", w.rank, err)
	}
	return res.Blobs, nil
}

func (w *workerContext) Barrier() error {
	if _, err := w.collective(collectiveArgs{Kind: "barrier"}); err != nil {
		return fmt.Errorf("Barrier on rank %d: %w", w.rank, err)
	}
	return nil
}

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
	if err := w.AllReduce(dec, Max); err != nil {
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
