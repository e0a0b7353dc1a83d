package core

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// closedChan is what waitCh returns for a complete object.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// object is one entry of the object store: a value (or an error) that is
// complete once done is closed. Values are immutable once set.
type object struct {
	id       uint64
	finished atomic.Bool
	ch       chan struct{} // made on demand by waitCh, closed by complete

	mu        sync.Mutex
	value     any
	err       error
	callbacks []func()
	producer  *task // the task that fills it, for Cancel; nil for Put

	// Store bookkeeping, guarded by the store's lock.
	refs      atomic.Int64
	size      int64
	accounted bool   // in the store's books (not an inlined small value); guarded by the store's lock
	inMemory  bool   // counted against the memory budget
	spillPath string // non-empty while the value lives on disk
	typ       reflect.Type
	freed     atomic.Bool // no ref is left
	lruPrev   *object
	lruNext   *object
}

// isDone reports whether the object has a value or an error.
func (o *object) isDone() bool { return o.finished.Load() }

// waitCh returns a channel closed once the object is complete. Most objects
// are read after they complete, so the channel is only made when needed.
func (o *object) waitCh() <-chan struct{} {
	if o.finished.Load() {
		return closedChan
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.finished.Load() {
		return closedChan
	}
	if o.ch == nil {
		o.ch = make(chan struct{})
	}
	return o.ch
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
	o.finished.Store(true)
	if o.ch != nil {
		close(o.ch)
	}
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
