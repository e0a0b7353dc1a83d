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
	id       ObjectID // ReturnObjectID of the task that fills it, or PutObjectID
	finished atomic.Bool
	flags    atomic.Uint32 // objFreed, objTracked
	waiters  int32         // callbacks not cancelled; guarded by mu
	// Store bookkeeping, guarded by the store's lock.
	accounted bool // in the store's books (not an inlined small value)
	inMemory  bool // counted against the memory budget

	ch chan struct{} // made on demand by waitCh, closed by complete

	mu        sync.Mutex
	value     any
	err       error
	callbacks []*waiter
	producer  *task      // the task that fills it, for Cancel; nil for Put and once complete
	call      *actorCall // the actor call that fills it, for Cancel; nil once complete

	// Lineage: what reconstructing the value would need (the function and
	// the IDs of its ref arguments by position, nil when it has none),
	// never the argument values or the task's closure, which would keep
	// the arguments alive as long as the result is.
	fn     *spec
	argIDs *[maxArgs]ObjectID

	refs atomic.Int64 // local handles (refHandle)
	big  *bigObject   // set by the store's admit for a value it accounts (not inlined)
}

// bigObject is the store's bookkeeping of an object it accounts (a value
// of inlineSize or more), guarded by the store's lock: most objects are
// small and never need it.
type bigObject struct {
	size      int64
	spillPath string // non-empty while the value lives on disk
	typ       reflect.Type
	lruPrev   *object
	lruNext   *object
	restoreMu sync.Mutex // one reader restores a spilled value at a time
}

// maxArgs is the most arguments a remote function takes (Func4).
const maxArgs = 4

// Object flags. They share one word so that an object entering the
// owner's table and its last handle going cannot miss each other.
const (
	objFreed   uint32 = 1 << iota // no holder is left
	objTracked                    // in the owner's reference table (refTable)
)

// isFreed reports whether the object was freed.
func (o *object) isFreed() bool { return o.flags.Load()&objFreed != 0 }

// markFreed frees an object outside the owner's table; it reports false if
// it was freed already or is in the table (which then decides).
func (o *object) markFreed() bool {
	if o.flags.CompareAndSwap(0, objFreed) {
		return true // the common case: one CAS
	}
	for {
		f := o.flags.Load()
		if f&(objFreed|objTracked) != 0 {
			return false
		}
		if o.flags.CompareAndSwap(f, f|objFreed) {
			return true
		}
	}
}

// markFreedTracked frees an object in the owner's table (under its lock).
func (o *object) markFreedTracked() bool {
	for {
		f := o.flags.Load()
		if f&objFreed != 0 {
			return false
		}
		if o.flags.CompareAndSwap(f, f|objFreed) {
			return true
		}
	}
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

// waiter is a callback registered with onDone; a nil fn was cancelled.
type waiter struct{ fn func() }

// onDone runs f once the object is complete: at once if it already is.
// f must not block. The returned cancel drops f if it has not run, so
// repeated Waits on a pending object do not pile callbacks up.
func (o *object) onDone(f func()) (cancel func()) {
	o.mu.Lock()
	if o.isDone() {
		o.mu.Unlock()
		f()
		return func() {}
	}
	w := &waiter{fn: f}
	o.waiters++
	if len(o.callbacks) >= 8 && int(o.waiters)*2 < len(o.callbacks) {
		live := o.callbacks[:0]
		for _, c := range o.callbacks {
			if c.fn != nil {
				live = append(live, c)
			}
		}
		clear(o.callbacks[len(live):])
		o.callbacks = live
	}
	o.callbacks = append(o.callbacks, w)
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		if w.fn != nil {
			w.fn = nil
			o.waiters--
		}
		o.mu.Unlock()
	}
}

// setValue stores a task's value before the object is marked complete, so
// the store can account (or spill) it before anyone can read it.
func (o *object) setValue(v any) {
	o.mu.Lock()
	if !o.isDone() {
		o.value = v
	}
	o.mu.Unlock()
}

// complete sets the result. Only the first call has an effect; it reports
// whether it was the first.
func (o *object) complete(value any, err error) bool {
	return o.finish(func() { o.value, o.err = value, err })
}

// completeErr marks the object complete with err, keeping a value set by
// setValue when err is nil.
func (o *object) completeErr(err error) bool {
	return o.finish(func() {
		if err != nil {
			o.value, o.err = nil, err
		}
	})
}

func (o *object) finish(set func()) bool {
	o.mu.Lock()
	if o.isDone() {
		o.mu.Unlock()
		return false
	}
	set()
	o.producer = nil // the finished task, its closure and its arguments can go
	o.call = nil
	o.finished.Store(true)
	if o.ch != nil {
		close(o.ch)
	}
	cbs := o.callbacks
	o.callbacks = nil
	var fns []func()
	for _, c := range cbs {
		if c.fn != nil {
			fns = append(fns, c.fn)
			c.fn = nil
		}
	}
	o.mu.Unlock()
	for _, f := range fns {
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
