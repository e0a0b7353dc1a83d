package preprocess

import (
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
)

// BatchFn is a user function for BatchMapper. It must not release its
// input and returns a record the caller owns (it may return the input
// after Retain).
type BatchFn func(batch arrow.Record) (arrow.Record, error)

var (
	mapperMu sync.RWMutex
	mappers  = map[string]BatchFn{}
)

// RegisterBatchMapper registers fn under name for BatchMapper. A function
// cannot be serialised, so Marshal stores only the name: every process
// that loads a checkpoint holding a BatchMapper must register the same
// function under the same name (typically in an init function) before
// Unmarshal. It panics on a duplicate or empty name or a nil fn.
func RegisterBatchMapper(name string, fn BatchFn) {
	mapperMu.Lock()
	defer mapperMu.Unlock()
	if _, dup := mappers[name]; dup || name == "" || fn == nil {
		panic(fmt.Sprintf("preprocess: RegisterBatchMapper: duplicate, empty or nil %q", name))
	}
	mappers[name] = fn
}

func batchMapper(name string) (BatchFn, error) {
	mapperMu.RLock()
	fn := mappers[name]
	mapperMu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("%w: BatchMapper function %q is not registered (RegisterBatchMapper)", ErrUnknownType, name)
	}
	return fn, nil
}

// BatchMapper applies a registered user function to every batch (Ray's
// BatchMapper). It learns nothing. Its JSON state is only the function's
// name.
type BatchMapper struct {
	// Name is the name the function was registered under.
	Name string `json:"name"`
}

// NewBatchMapper returns a BatchMapper running the function registered as
// name; it fails if none is.
func NewBatchMapper(name string) (*BatchMapper, error) {
	if _, err := batchMapper(name); err != nil {
		return nil, err
	}
	return &BatchMapper{Name: name}, nil
}

// TypeName is "BatchMapper".
func (m *BatchMapper) TypeName() string { return "BatchMapper" }

// Fitted is always true: a BatchMapper learns nothing.
func (m *BatchMapper) Fitted() bool { return true }

func (m *BatchMapper) validate() error {
	_, err := batchMapper(m.Name)
	return err
}

// TransformBatch runs the function on one batch. It does not release
// batch; the caller releases the result.
func (m *BatchMapper) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	fn, err := batchMapper(m.Name)
	if err != nil {
		return nil, err
	}
	out, err := fn(batch)
	if err != nil {
		return nil, fmt.Errorf("preprocess: BatchMapper %q: %w", m.Name, err)
	}
	if out == nil {
		return nil, fmt.Errorf("preprocess: BatchMapper %q returned a nil record", m.Name)
	}
	return out, nil
}
