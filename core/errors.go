package core

import (
	"errors"
	"fmt"
	"io"
)

// Category sentinels. Every error the runtime returns wraps one of these, so
// callers test with errors.Is. Their texts carry no "goray: " prefix: a
// message names its category once, whatever layers it crossed, e.g.
// "gbdt: preprocessor: invalid input: StandardScaler: column ...". Packages
// above core reuse these values (data.ErrInvalidInput is
// core.ErrInvalidInput) and derive narrower kinds with NewKind.
var (
	// ErrShutdown: the runtime that owns the ref, actor or call was shut down.
	ErrShutdown = errors.New("runtime is shut down")
	// ErrNotRegistered: no function, actor class or method has that name.
	ErrNotRegistered = errors.New("not registered")
	// ErrInvalidInput: a caller passed a bad argument or option, or bad
	// data (a file, a column, a parameter, a request).
	ErrInvalidInput = errors.New("invalid input")
	// ErrInfeasible: the resources asked for exceed what the runtime has.
	ErrInfeasible = errors.New("infeasible resource request")
	// ErrTaskFailed: user code returned an error (an application error).
	ErrTaskFailed = errors.New("task failed")
	// ErrWorkerCrashed: user code panicked; the worker running it is treated as dead.
	ErrWorkerCrashed = errors.New("worker crashed")
	// ErrTaskCancelled: the task was cancelled with Cancel or by shutdown.
	ErrTaskCancelled = errors.New("task cancelled")
	// ErrActorDied: the actor is dead (killed, constructor failed, or out of restarts).
	ErrActorDied = errors.New("actor died")
	// ErrObjectTooLarge: a value fits neither the memory budget nor the spill space.
	ErrObjectTooLarge = errors.New("object too large")
	// ErrObjectFreed: the object was released and can no longer be read.
	ErrObjectFreed = errors.New("object freed")
)

// NewKind returns a sentinel with its own text that also matches category
// with errors.Is: a package's narrower kind of a category, whose message
// does not repeat the category's text.
//
//	var ErrInvalidParam = core.NewKind("invalid parameter", core.ErrInvalidInput)
//	errors.Is(fmt.Errorf("%w: max_depth", ErrInvalidParam), core.ErrInvalidInput) // true
func NewKind(text string, category error) error { return &kindError{text: text, category: category} }

type kindError struct {
	text     string
	category error
}

func (e *kindError) Error() string { return e.text }

func (e *kindError) Unwrap() error { return e.category }

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
