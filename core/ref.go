package core

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// Ref is a typed future: the result of a remote call or of Put. It is cheap
// to copy; all copies share one handle. It is a value that travels: a task
// argument or result, a field of a stored value; its wire form is its
// object's ID and owner (MarshalCBOR). The object it points to is freed
// once no holder is left: no handle reachable any more (or all released),
// no task submitted with it that has not finished, no live object whose
// value holds it.
type Ref[T any] struct {
	h *refHandle
}

type refHandle struct {
	rt       *Runtime
	obj      *object
	released atomic.Bool
	cleanup  runtime.Cleanup
}

func newHandle(rt *Runtime, obj *object) *refHandle {
	obj.refs.Add(1)
	return adoptHandle(rt, obj)
}

// adoptHandle makes a handle for a local reference already counted in
// obj.refs (refTable.borrow counts it under the table's lock).
func adoptHandle(rt *Runtime, obj *object) *refHandle {
	h := &refHandle{rt: rt, obj: obj}
	h.cleanup = runtime.AddCleanup(h, func(o *object) { rt.store.decRef(o) }, obj)
	return h
}

// ID identifies the object the ref points to: the String form of its
// ObjectID, which ParseObjectID reads back. A task's results are
// ReturnObjectID(task, index), the index from 1 as in Ray (a generator's
// values are its returns 1, 2, ... in the order yielded), so the refs of
// one call share their Task(); a Put's object is PutObjectID(task, index)
// of the task that put it (the driver outside any task). The zero Ref's
// ID is "nil".
func (r Ref[T]) ID() string {
	if r.h == nil {
		return "nil"
	}
	return r.h.obj.id.String()
}

// Valid reports whether the ref points to an object (the zero Ref does not).
func (r Ref[T]) Valid() bool { return r.h != nil }

// Release drops this handle's reference now instead of waiting for garbage
// collection. No copy of the ref may be used afterwards (copies share the
// handle: a ref put inside a value or passed to a task in process is the
// same handle). Other holders (other handles, tasks, outer objects) keep
// the object.
func (r Ref[T]) Release() {
	if r.h != nil {
		r.h.release()
	}
}

// release drops the handle's reference now.
func (h *refHandle) release() {
	if !h.released.CompareAndSwap(false, true) {
		return
	}
	h.rt.front.free(h)
}

func (r Ref[T]) check() error {
	if r.h == nil {
		return fmt.Errorf("%w: zero Ref", ErrInvalidInput)
	}
	if r.h.released.Load() {
		return fmt.Errorf("%w: %s was released", ErrObjectFreed, r.ID())
	}
	if r.h.rt.closed.Load() && !r.h.rt.dead { // a dead runtime's refs hold why they failed
		return fmt.Errorf("%w: cannot read %s", ErrShutdown, r.ID())
	}
	return nil
}

// Arg is an argument to a remote call: a plain value (Val) or a Ref whose
// value the task waits for.
type Arg[T any] interface {
	resolveArg() (v T, obj *object, isRef bool)
}

type valArg[T any] struct{ v T }

func (a valArg[T]) resolveArg() (T, *object, bool) { return a.v, nil, false }

// Val wraps a plain value as an Arg.
func Val[T any](v T) Arg[T] { return valArg[T]{v} }

func (r Ref[T]) resolveArg() (T, *object, bool) {
	var zero T
	if r.h == nil {
		return zero, nil, true
	}
	return zero, r.h.obj, true
}

// Get waits for the ref's value. Called inside a task, the task gives its
// CPUs back while it waits, so nested tasks cannot deadlock the pool.
func Get[T any](ctx context.Context, r Ref[T]) (T, error) {
	var zero T
	if err := r.check(); err != nil {
		return zero, err
	}
	v, err := r.h.rt.front.getRef(ctx, r.h)
	if err != nil {
		return zero, err
	}
	if v == nil {
		return zero, nil
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %s holds %T, not %T", ErrInvalidInput, r.ID(), v, zero)
	}
	return t, nil
}

// GetAll waits for every ref and returns the values in order. It returns the
// first error met, in ref order.
func GetAll[T any](ctx context.Context, refs []Ref[T]) ([]T, error) {
	out := make([]T, len(refs))
	for i, r := range refs {
		v, err := Get(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("ref %d of %d: %w", i, len(refs), err)
		}
		out[i] = v
	}
	return out, nil
}

// WaitOptions bound Wait.
type WaitOptions struct {
	// NumReturns is how many refs must be ready before Wait returns
	// (default 1, capped at len(refs)).
	NumReturns int
	// Timeout bounds the wait; zero means no limit. On timeout Wait returns
	// what is ready so far without an error, as Ray does.
	Timeout time.Duration
}

// Wait returns once opts.NumReturns refs are complete (successfully or not),
// the timeout passes or ctx ends. ready keeps the order in which refs were
// passed; the idiom is to loop, handling ready and waiting again on notReady.
// The refs must point to distinct objects: a duplicate is ErrInvalidInput,
// naming its index, as in Ray.
func Wait[T any](ctx context.Context, refs []Ref[T], opts WaitOptions) (ready, notReady []Ref[T], err error) {
	n := opts.NumReturns
	if n < 0 {
		return nil, nil, fmt.Errorf("%w: WaitOptions.NumReturns = %d: must be >= 0", ErrInvalidInput, n)
	}
	if n == 0 {
		n = 1
	}
	if n > len(refs) {
		n = len(refs)
	}
	for _, r := range refs {
		if err := r.check(); err != nil {
			return nil, nil, err
		}
	}
	if err := checkUnique(refs); err != nil {
		return nil, nil, err
	}
	var done []bool
	if n > 0 {
		hs := make([]*refHandle, len(refs))
		for i, r := range refs {
			hs[i] = r.h
		}
		done, err = refs[0].h.rt.front.waitRefs(ctx, hs, n, opts.Timeout)
		if err != nil {
			return nil, nil, err
		}
	}
	for i, r := range refs {
		if done != nil && done[i] && len(ready) < max(n, 1) {
			ready = append(ready, r)
		} else {
			notReady = append(notReady, r)
		}
	}
	return ready, notReady, nil
}

func (rt *Runtime) waitRefs(ctx context.Context, hs []*refHandle, n int, timeout time.Duration) (done []bool, err error) {
	signal := make(chan struct{}, len(hs))
	var remaining atomic.Int64
	remaining.Store(int64(n))
	cancels := make([]func(), 0, len(hs))
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for _, h := range hs {
		cancels = append(cancels, h.obj.onDone(func() {
			if remaining.Add(-1) == 0 {
				signal <- struct{}{}
			}
		}))
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	wrt := hs[0].rt
	h := holderFromContext(ctx)
	if h != nil {
		h.block()
	}
	select {
	case <-signal:
	case <-expired:
	case <-ctx.Done():
		err = ctx.Err()
	case <-wrt.ctx.Done():
		err = ErrShutdown
	}
	if h != nil {
		h.unblock()
	}
	if err != nil {
		return nil, err
	}
	done = make([]bool, len(hs))
	for i, h := range hs {
		done[i] = h.obj.isDone()
	}
	return done, nil
}

// checkUnique refuses a list that names one object twice, as Ray's wait
// does: the count of ready refs would be ambiguous.
func checkUnique[T any](refs []Ref[T]) error {
	dup := func(i, j int) error {
		return fmt.Errorf("%w: Wait: ref %d (%s) is the same object as ref %d; refs must be unique", ErrInvalidInput, j, refs[j].ID(), i)
	}
	if len(refs) <= 16 {
		for j := 1; j < len(refs); j++ {
			for i := range j {
				if refs[i].h.obj == refs[j].h.obj {
					return dup(i, j)
				}
			}
		}
		return nil
	}
	seen := make(map[*object]int, len(refs))
	for j, r := range refs {
		if i, ok := seen[r.h.obj]; ok {
			return dup(i, j)
		}
		seen[r.h.obj] = j
	}
	return nil
}

// Put stores v in the object store and returns a ref to it. v is not
// copied: do not change it afterwards. Called inside a task or actor, it
// stores into that task's runtime. A value that no codec can carry to
// another process (see CheckEncodable) is refused with ErrNotEncodable.
func Put[T any](ctx context.Context, v T) (Ref[T], error) {
	b, _, sub, err := callerFor(ctx)
	if err != nil {
		return Ref[T]{}, err
	}
	v, err = putValue(v)
	if err != nil {
		return Ref[T]{}, err
	}
	h, err := b.put(ctx, sub.nextPutID(), v)
	if err != nil {
		return Ref[T]{}, err
	}
	return Ref[T]{h: h}, nil
}

// CancelOption configures Cancel.
type CancelOption func(*cancelConfig)

// Force makes Cancel abandon a running task instead of waiting for it to
// notice its cancelled context: its ref fails at once with
// ErrTaskCancelled. Go cannot stop a goroutine, so the task's code runs on
// until it returns, holding its resources (and Shutdown waits for it); its
// result is dropped. Use it for tasks that do not watch their context.
func Force() CancelOption { return func(c *cancelConfig) { c.force = true } }

// Recursive says whether Cancel also cancels the tasks the cancelled task
// submitted from its context, and theirs (default true, as in Ray).
func Recursive(on bool) CancelOption { return func(c *cancelConfig) { c.recursive = on } }

// Cancel stops the task that produces r: a queued task never runs, a task
// waiting to retry does not retry, a running one sees its context
// cancelled and its ref fails with ErrTaskCancelled once it returns (at once
// with Force). The tasks it submitted are cancelled too unless
// Recursive(false) is given. Cancelling a Put object or a finished task
// does nothing. An actor method call is cancelled the same way (a queued
// call leaves the actor's mailbox, a running one sees its context
// cancelled), except that Force is refused, as Ray refuses it for actor
// tasks: the actor's state would be left half-changed.
func Cancel[T any](r Ref[T], opts ...CancelOption) error {
	if err := r.check(); err != nil && !errors.Is(err, ErrObjectFreed) {
		return err
	}
	c := cancelConfig{recursive: true}
	for _, o := range opts {
		o(&c)
	}
	return r.h.rt.front.cancelRef(r.h.obj, c)
}

// ObjectRef is the untyped view of a Ref, for code that handles refs of
// several types (WaitAny, the cluster backend).
type ObjectRef interface {
	ID() string
	handle() *refHandle
}

func (r Ref[T]) handle() *refHandle { return r.h }
