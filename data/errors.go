package data

import (
	"errors"
	"fmt"

	"github.com/goray/goray/core"
)

// ErrInvalidInput reports bad user input: a malformed file, an unknown
// column, a bad parameter. Messages name the file, line and column or the
// parameter. It is core.ErrInvalidInput itself (one category across every
// package), so its text "invalid input" appears once in a message.
var ErrInvalidInput = core.ErrInvalidInput

// ErrOperatorFailed reports that a user function passed to an operator
// returned an error; the message names the operator and wraps the cause.
var ErrOperatorFailed = errors.New("data: operator failed")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}
