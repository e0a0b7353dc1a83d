package tune

import (
	"context"
	"time"
)

// Status is a trial's lifecycle state.
type Status string

// Trial states.
const (
	StatusPending    Status = "PENDING"    // created, waiting for a slot
	StatusRunning    Status = "RUNNING"    // its actor is running the trainable
	StatusPaused     Status = "PAUSED"     // stopped at a checkpoint, may resume
	StatusTerminated Status = "TERMINATED" // finished or stopped early
	StatusError      Status = "ERROR"      // failed more than FailureConfig.MaxFailures times
)

func (s Status) done() bool { return s == StatusTerminated || s == StatusError }

// Trial is one configuration being trained. Schedulers and searchers see
// trials through its read-only methods; the tuner's controller goroutine
// owns every field.
type Trial struct {
	id     string
	index  int
	dir    string
	config Config
	status Status

	history  []map[string]float64 // every result, in order
	last     map[string]float64
	err      error
	failures int

	// checkpoint is the newest persisted checkpoint directory and the
	// training_iteration / time_total_s it was reported at.
	checkpoint     string
	checkpointIter int
	checkpointTime float64
	checkpoints    []string // kept checkpoint dirs, oldest first
	ckptSeq        int      // checkpoint directories numbered so far

	// run is the current run (start or resume); nil unless RUNNING.
	run          *trialRun
	runs         int  // runs started, for stale-event detection
	stopAsked    bool // stop at the next report (or now if not running)
	schedStopped bool // stopped through TrialRunner.StopTrial
	logsToGo     int  // runs whose logs are not yet on disk
	// logsIdle is closed when the writer of the latest run's logs is
	// done; loggedIter is the highest training_iteration in the logs.
	logsIdle   <-chan struct{}
	loggedIter int
	started    time.Time
}

// rewind drops the results after iteration iter, which a run resuming from
// the checkpoint at iter (or starting over, at 0) reports again: as in Ray,
// the results after the checkpoint a trial restores are discarded.
func (t *Trial) rewind(iter int) {
	keep := t.history[:0:0]
	for _, m := range t.history {
		if int(m["training_iteration"]) <= iter {
			keep = append(keep, m)
		}
	}
	if len(keep) == len(t.history) {
		return
	}
	t.history, t.last = keep, nil
	if n := len(keep); n > 0 {
		t.last = keep[n-1]
	}
}

// trialRun is one execution of a trial by its actor.
type trialRun struct {
	n      int
	cancel context.CancelFunc
	// decision is what the controller answered the last report with.
	decision Decision
}

// ID returns the trial's id, e.g. "00003".
func (t *Trial) ID() string { return t.id }

// Config returns the trial's config. Do not modify it.
func (t *Trial) Config() Config { return t.config }

// Status returns the trial's state.
func (t *Trial) Status() Status { return t.status }

// LastResult returns the trial's latest result (nil before the first).
func (t *Trial) LastResult() map[string]float64 { return t.last }

// History returns every result of the trial, in order. Do not modify it.
func (t *Trial) History() []map[string]float64 { return t.history }

// Dir returns the trial's directory.
func (t *Trial) Dir() string { return t.dir }

// HasCheckpoint reports whether the trial has a persisted checkpoint to
// resume from.
func (t *Trial) HasCheckpoint() bool { return t.checkpoint != "" }
