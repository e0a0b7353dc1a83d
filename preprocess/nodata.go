//go:build !withdata

package preprocess

import (
	"errors"

	"github.com/apache/arrow/go/v15/arrow"
)

var ErrInvalidInput = errors.New("preprocess: invalid input")

type Preprocessor interface {
	TypeName() string
	Fitted() bool
	TransformBatch(batch arrow.Record) (arrow.Record, error)
}
