package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/goray/goray/core"
)

var (
	// ErrInvalidInput: the request (or a Deployment, App or Config) is
	// malformed. Requests failing with it are answered 400 unless an *Error
	// in the chain says otherwise. It is core.ErrInvalidInput itself, so
	// bad input from any layer (a gbdt predictor, a preprocessor) is a 400.
	ErrInvalidInput = core.ErrInvalidInput
	// ErrOverloaded: every replica is at MaxOngoingRequests and the queue
	// is at MaxQueuedRequests. HTTP answers 503 with Retry-After.
	ErrOverloaded = errors.New("serve: deployment overloaded")
	// ErrStopped: the server (or the deployment) is shutting down.
	ErrStopped = errors.New("serve: stopped")
	// ErrNotFound: no deployment has that name.
	ErrNotFound = errors.New("serve: no such deployment")
	// ErrReplicaFailed: the replica serving the request crashed (panicked)
	// or died while serving it.
	ErrReplicaFailed = errors.New("serve: replica failed")
)

// Error is an error with an HTTP status. A Handler returns one to answer a
// request with that status and Message as {"error": Message}; gRPC maps
// Status to the nearest code.
type Error struct {
	Status  int    // HTTP status, e.g. 400
	Message string // shown to the client
	Err     error  // optional cause, for errors.Is/As; not shown
	// Header holds extra HTTP response headers, e.g. Allow on a 405;
	// gRPC ignores it.
	Header http.Header
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given status and a formatted message.
// A %w verb in format makes the wrapped error the Error's cause.
func Errorf(status int, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Status: status, Message: err.Error(), Err: errors.Unwrap(err)}
}

// badRequest is a 400 that also matches ErrInvalidInput.
func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Err: ErrInvalidInput}
}

// statusOf maps an error from a deployment call to an HTTP status and the
// message shown to the client.
func statusOf(err error) (int, string) {
	var se *Error
	switch {
	case errors.As(err, &se):
		st := se.Status
		if st < 400 || st > 599 {
			st = http.StatusInternalServerError
		}
		return st, se.Message
	case errors.Is(err, ErrOverloaded):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, ErrStopped), errors.Is(err, core.ErrShutdown):
		return http.StatusServiceUnavailable, ErrStopped.Error()
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "request timed out"
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return 499, "request cancelled"
	case errors.Is(err, ErrReplicaFailed):
		return http.StatusInternalServerError, "replica failed while serving the request"
	}
	return http.StatusInternalServerError, "internal error: " + err.Error()
}

func isReplicaFailure(err error) bool { return errors.Is(err, ErrReplicaFailed) }
