package tune

import (
	"errors"
	"fmt"

	"github.com/goray/goray/core"
)

var (
	// ErrInvalidInput: a bad search space, tuner configuration or trainable.
	// The message names the offending field or parameter. It is
	// core.ErrInvalidInput itself.
	ErrInvalidInput = core.ErrInvalidInput

	// ErrTrialStopped is returned by Context.Report once the scheduler has
	// stopped or paused the trial (or the experiment is ending). A trainable
	// should return it (or any error wrapping it): the trial then ends
	// normally, not as a failure.
	ErrTrialStopped = errors.New("tune: trial stopped by the scheduler")

	// ErrSearchFinished is returned by Searcher.Suggest when the searcher
	// will never suggest another configuration.
	ErrSearchFinished = errors.New("tune: search finished")

	// ErrNotFound: no trial has the metric asked for (GetBestResult) or a
	// path holds no experiment (Restore).
	ErrNotFound = errors.New("tune: not found")
)

// ErrTrialStopped and ErrSearchFinished keep their identity when they come
// back from a trial's actor in another process.
func init() {
	core.RegisterError("tune.ErrTrialStopped", ErrTrialStopped)
	core.RegisterError("tune.ErrSearchFinished", ErrSearchFinished)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}
