package core

import (
	"errors"
	"fmt"
	"io"
)

// Category sentinels. Every error the runtime returns wraps one of these, so
// callers test with errors.Is.
var (
	// ErrShutdown: the runtime that owns the ref, actor or call was shut down.
	ErrShutdown = errors.New("goray: runtime is shut down")
	// ErrNotRegistered: no function, actor class or method has that name.
	ErrNotRegistered = errors.New("goray: not registered")
	// ErrInvalidInput: a caller passed a bad argument or option.
	ErrInvalidInput = errors.New("goray: invalid input")
	// ErrInfeasible: the resources asked for exceed what the runtime has.
	ErrInfeasible = errors.New("goray: infeasible resource request")
	// ErrTaskFailed: user code returned an error (an application error).
	ErrTaskFailed = errors.New("goray: task failed")
	// ErrWorkerCrashed: user code panicked; the worker running it is treated as dead.
	ErrWorkerCrashed = errors.New("goray: worker crashed")
	// ErrTaskCancelled: the task was cancelled with Cancel or by shutdown.
	ErrTaskCancelled = errors.New("goray: task cancelled")
	// ErrActorDied: the actor is dead (killed, constructor failed, or out of restarts).
	ErrActorDied = errors.New("goray: actor died")
	// ErrObjectTooLarge: a value fits neither the memory budget nor the spill space.
	ErrObjectTooLarge = errors.New("goray: object too large")
	// ErrObjectFreed: the object was released and can no longer be read.
	ErrObjectFreed = errors.New("goray: object freed")
)

// TaskError is the error stored on a ref whose task failed. It names the task
// and carries the panic value and stack when user code panicked.
type TaskError struct {
	Task     string // registered name of the function or actor method
	Attempts int    // how many times the task ran
	Panic    any    // the panic value, nil for a returned error
	Stack    string // the goroutine stack at the panic, empty for a returned error
	Cause    error  // the returned error, or nil for a panic
	kind     error  // ErrTaskFailed, ErrWorkerCrashed or ErrActorDied
}

// Error is one line: the category, the task, the attempts and the panic
// value or returned error. The stack is in Stack and printed by %+v.
func (e *TaskError) Error() string {
	if e.Panic != nil {
		return fmt.Sprintf("%v: task %q panicked after %d attempt(s): %v", e.kind, e.Task, e.Attempts, e.Panic)
	}
	return fmt.Sprintf("%v: task %q (attempt %d): %v", e.kind, e.Task, e.Attempts, e.Cause)
}

// Format prints Error for %v and %s, and Error followed by the goroutine
// stack of the panic for %+v.
func (e *TaskError) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		io.WriteString(f, e.Error())
		if f.Flag('+') && e.Stack != "" {
			io.WriteString(f, "\n")
			io.WriteString(f, e.Stack)
		}
	case 's':
		io.WriteString(f, e.Error())
	case 'q':
		fmt.Fprintf(f, "%q", e.Error())
	default:
		fmt.Fprintf(f, "%%!%c(*core.TaskError=%s)", verb, e.Error())
	}
}

// Unwrap lets errors.Is match both the category and the user's own error.
func (e *TaskError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.kind, e.Cause}
	}
	return []error{e.kind}
}
