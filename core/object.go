package core

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// closedChan is shared by every object that is complete when created (Put).
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// object is one entry of the object store: a value (or an error) that is
// complete once done is closed. Values are immutable once set.
type object struct {
	id   uint64
	done chan struct{}

	mu        sync.Mutex
	value     any
	err       error
	callbacks []func()
	producer  *task // the task that fills it, for Cancel; nil for Put

	// Store bookkeeping, guarded by the store's lock.
	refs      atomic.Int64
	size      int64
	inMemory  bool   // counted against the memory budget
	spillPath string // non-empty while the value lives on disk
	typ       reflect.Type
	freed     bool
	lruPrev   *object
	lruNext   *object
}

// isDone reports whether the object has a value or an error.
func (o *object) isDone() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// onDone runs f once the object is complete: at once if it already is.
// f must not block.
func (o *object) onDone(f func()) {
	o.mu.Lock()
	if o.isDone() {
		o.mu.Unlock()
		f()
		return
	}
	o.callbacks = append(o.callbacks, f)
	o.mu.Unlock()
}

// complete sets the result. Only the first call has an effect; it reports
// whether it was the first.
func (o *object) complete(value any, err error) bool {
	o.mu.Lock()
	if o.isDone() {
		o.mu.Unlock()
		return false
	}
	o.value, o.err = value, err
	close(o.done)
	cbs := o.callbacks
	o.callbacks = nil
	o.mu.Unlock()
	for _, f := range cbs {
		f()
	}
	return true
}

// result returns the value and error of a complete object.
func (o *object) result() (any, error) {
	o.mu.Lock()
	v, err := o.value, o.err
	o.mu.Unlock()
	return v, err
}
