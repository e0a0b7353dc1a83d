package core

import (
	"context"
	"fmt"
	"io"
	"iter"
	"reflect"
	"runtime"
	"sync"

	"github.com/goray/goray/core/corepb"
)

// Generator is the caller's side of a generator task (Gen0..Gen4), Ray's
// ObjectRefGenerator: the refs of the values the task yields, in the order
// it yields them, each available as soon as it is yielded. The task runs
// on its own; with GeneratorBackpressure(n) its yield waits while n values
// are not yet taken by Next or All.
//
// An error the generator returns after k yields comes after the k refs,
// as Next's error. A Generator is for one reader at a time. Once it is
// garbage collected unread, the task is cancelled and the values not taken
// are freed.
type Generator[T any] struct {
	s *stream
}

// stream is what a generator task and its caller share.
type stream struct {
	rt    *Runtime
	t     *task      // the producer; nil when the call failed before it started
	call  *actorCall // the producer of a generator method (GenMethodA); nil for a task
	name  string
	id    TaskID // the values' ObjectIDs are ReturnObjectID(id, 1..); the task's own (Completed) is index 0
	limit int    // GeneratorBackpressure; 0 for none

	mu      sync.Mutex
	ready   []*refHandle  // yielded, not yet taken
	taken   int           // values taken by the caller
	made    int           // values yielded, over every attempt
	attempt int           // values yielded by the current attempt
	done    bool          // the task is over (or the call failed)
	err     error         // the task's error, once done
	stopped bool          // the caller stopped reading: yields fail
	changed chan struct{} // closed at the next change of the fields above
}

// signalLocked wakes whoever waits for a change. Caller holds s.mu.
func (s *stream) signalLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// waitLocked is closed at the next change. Caller holds s.mu.
func (s *stream) waitLocked() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// begin starts an attempt of the task: a retry yields from the start, and
// the values an earlier attempt delivered are dropped.
func (s *stream) begin() {
	s.mu.Lock()
	s.attempt = 0
	s.mu.Unlock()
}

// yield stores v as the next value, once the backpressure allows, and
// hands its ref to the caller. ctx is the task's.
func (s *stream) yield(ctx context.Context, v any) error {
	s.mu.Lock()
	i := s.attempt
	s.attempt++
	if i < s.made {
		s.mu.Unlock()
		return nil // delivered by an earlier attempt
	}
	for {
		if err := s.closedLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		if s.limit == 0 || s.made-s.taken < s.limit {
			break
		}
		ch := s.waitLocked()
		s.mu.Unlock()
		if err := s.await(ctx, ch); err != nil {
			return err
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	obj, err := s.rt.store.put(v, ReturnObjectID(s.id, uint32(i+1)))
	if err != nil {
		return fmt.Errorf("generator %q value %d: %w", s.name, i+1, err)
	}
	h := newHandle(s.rt, obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.closedLocked(); err != nil {
		h.release()
		return err
	}
	s.made++
	s.ready = append(s.ready, h)
	s.signalLocked()
	return nil
}

// closedLocked is the error a yield gets once nobody reads the values.
// Caller holds s.mu.
func (s *stream) closedLocked() error {
	switch {
	case s.stopped:
		return fmt.Errorf("%w: generator %q: the caller stopped reading", ErrTaskCancelled, s.name)
	case s.done:
		return fmt.Errorf("%w: generator %q is over", ErrTaskCancelled, s.name)
	case s.t != nil && s.t.state.Load() == taskCancelled:
		return s.t.cancelError()
	}
	return nil
}

// await waits for ch, giving the CPUs of the task or actor waiting (ctx's)
// back meanwhile.
func (s *stream) await(ctx context.Context, ch <-chan struct{}) error {
	h := holderFromContext(ctx)
	if h != nil {
		h.block()
	}
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
		if t := taskFromContext(ctx); t != nil && t.state.Load() == taskCancelled {
			err = t.cancelError()
		}
	case <-s.rt.ctx.Done():
		err = fmt.Errorf("%w: generator %q", ErrShutdown, s.name)
	}
	if h != nil {
		h.unblock()
	}
	return err
}

// finish records the end of the task: its error, or nil.
func (s *stream) finish() {
	_, err := s.t.out.result()
	s.mu.Lock()
	s.done, s.err = true, err
	s.signalLocked()
	s.mu.Unlock()
}

// stop ends the stream for a caller that stopped reading: the task is
// cancelled and the values not taken are freed.
func (s *stream) stop() {
	if s.call != nil {
		// First, so that a yield failing from here on finds the call
		// cancelled: it ends as cancelled, not as failed by its yield.
		s.call.a.cancelCall(s.call, fmt.Errorf("%w: generator %q: the caller stopped reading", ErrTaskCancelled, s.name))
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	ready := s.ready
	s.ready = nil
	s.signalLocked()
	s.mu.Unlock()
	for _, h := range ready {
		h.release()
	}
	if s.t != nil {
		s.rt.cancelTask(s.t, cancelConfig{recursive: true})
	}
}

// Next returns the ref of the next value, waiting for the task to yield
// it; io.EOF once the task returned after its last value; the task's error
// (ErrTaskFailed, ErrTaskCancelled, ...) once it failed, after the refs of
// the values it yielded before. Called inside a task or actor, it gives
// the caller's CPUs back while it waits. A ctx that ends makes Next return
// its error and leaves the task running.
func (g *Generator[T]) Next(ctx context.Context) (Ref[T], error) {
	s := g.s
	s.mu.Lock()
	for len(s.ready) == 0 {
		if s.done || s.stopped {
			err := s.err
			if err == nil && s.stopped {
				err = fmt.Errorf("%w: generator %q was stopped", ErrTaskCancelled, s.name)
			}
			s.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return Ref[T]{}, err
		}
		ch := s.waitLocked()
		s.mu.Unlock()
		if err := s.await(ctx, ch); err != nil {
			return Ref[T]{}, err
		}
		s.mu.Lock()
	}
	h := s.ready[0]
	s.ready[0] = nil
	s.ready = s.ready[1:]
	s.taken++
	s.signalLocked()
	s.mu.Unlock()
	return Ref[T]{h: h}, nil
}

// All ranges over the refs as Next returns them, ending after the last
// one; a failed task or a ctx that ends gives one last pair with the
// error. Leaving the loop early, or ctx ending, cancels the task: a
// producer never outlives the loop that reads it. The refs already taken
// stay valid.
//
//	for ref, err := range gen.All(ctx) {
//		if err != nil {
//			return err
//		}
//		v, err := core.Get(ctx, ref)
//		...
//	}
func (g *Generator[T]) All(ctx context.Context) iter.Seq2[Ref[T], error] {
	return func(yield func(Ref[T], error) bool) {
		for {
			r, err := g.Next(ctx)
			if err == io.EOF {
				return
			}
			if err != nil {
				if ctx.Err() != nil {
					g.s.stop()
				}
				yield(Ref[T]{}, err)
				return
			}
			if !yield(r, nil) {
				g.s.stop()
				return
			}
		}
	}
}

// Cancel cancels the generator task as Cancel cancels a task: Next then
// returns the refs of the values yielded so far, then ErrTaskCancelled.
func (g *Generator[T]) Cancel(opts ...CancelOption) error {
	s := g.s
	c := cancelConfig{recursive: true}
	for _, o := range opts {
		o(&c)
	}
	if s.call != nil {
		return cancelActorCall(s.call, c)
	}
	if s.t == nil {
		return nil // the call failed before it started
	}
	return s.rt.front.cancelRef(s.t.out, c)
}

// Completed is a ref that is complete once the task is over: its Get
// returns nil once the generator returned, else its error (Ray's
// ObjectRefGenerator.completed()).
func (g *Generator[T]) Completed() Ref[struct{}] {
	s := g.s
	if s.call != nil {
		return Ref[struct{}]{h: newHandle(s.rt, s.call.out)}
	}
	if s.t == nil {
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		return failedRef[struct{}](s.rt, err)
	}
	return Ref[struct{}]{h: newHandle(s.rt, s.t.out)}
}

// launchGen submits a generator call to the backend of ctx; run yields
// its values.
func launchGen[T any](ctx context.Context, s *spec, deps []*object, run func(ctx context.Context, yield func(any) error) error) *Generator[T] {
	b, parent, sub, err := callerFor(ctx)
	if err != nil {
		return failedGen[T](nil, s.name, err)
	}
	return submitGen[T](ctx, b, taskCall{spec: s, parent: parent, gen: run, deps: deps, id: sub.nextTaskID()})
}

// submitGen submits c, a generator call, to b and returns its Generator.
func submitGen[T any](ctx context.Context, b backend, c taskCall) *Generator[T] {
	st := &stream{name: c.spec.name, id: c.id, limit: c.spec.opts.task.backpressure}
	g := &Generator[T]{s: st}
	c.stream = st
	b.submitTask(ctx, c)
	if st.t != nil {
		runtime.AddCleanup(g, (*stream).stop, st)
	}
	return g
}

// startGen makes and starts the task of c, a generator call, on c.stream.
func (rt *Runtime) startGen(ctx context.Context, c taskCall) {
	st, gen := c.stream, c.gen
	st.rt = rt
	st.id = c.id
	t, live := rt.newTask(c.spec, c.id, 0, c.deps, func(ctx context.Context) (any, error) {
		st.begin()
		return nil, gen(ctx, func(v any) error { return st.yield(ctx, v) })
	})
	st.t = t
	t.out.onDone(st.finish)
	rt.start(ctx, c.parent, t, live)
}

// failedGen is a generator whose call failed before its task started.
func failedGen[T any](rt *Runtime, name string, err error) *Generator[T] {
	if rt == nil {
		rt = deadRuntime()
	}
	return &Generator[T]{s: &stream{rt: rt, name: name, done: true, err: err}}
}

// registerGen registers a generator function: each value it yields is of
// type elem. Called by name (Call), it gives every value as one []any.
func registerGen(name string, localOnly bool, args []reflect.Type, elem reflect.Type, gen func(context.Context, []any, func(any) error) error) {
	call := func(ctx context.Context, args []any) (any, error) {
		var out []any
		err := gen(ctx, args, func(v any) error { out = append(out, v); return nil })
		return out, err
	}
	fc := &funcCode{signature: signature{"function", name, args, elem, localOnly}, call: call, gen: gen}
	fc.check()
	addFuncCode(name, fc)
}

// launchGenByName submits a generator call by name: its wire spec is what
// the backend runs, each value crossing the codec on its way back
// (execGen).
func launchGenByName[T any](ctx context.Context, s *spec, args []any) *Generator[T] {
	fc := lookupFunc(s.name)
	if fc == nil || fc.gen == nil {
		rt, _ := current()
		return failedGen[T](rt, s.name, fmt.Errorf("%w: no generator function named %q", ErrNotRegistered, s.name))
	}
	b, parent, sub, err := callerFor(ctx)
	if err != nil {
		return failedGen[T](nil, s.name, err)
	}
	id := sub.nextTaskID()
	wire, pins, err := wireSpec(&corepb.TaskSpec{FunctionName: s.name, TaskId: id[:], ParentTaskId: sub.id[:]}, fc.args, args, &s.opts)
	if err != nil {
		rt, _ := current()
		return failedGen[T](rt, s.name, fmt.Errorf("task %q: %w", s.name, err))
	}
	gen := submitGen[T](ctx, b, taskCall{spec: s, parent: parent, wire: wire, id: id})
	// The arguments' objects stay pinned until the generator task is over.
	if t := gen.s.t; t != nil {
		pins.releaseWith(t.out)
	} else {
		pins.release()
	}
	return gen
}

// execGen is the worker side of a by-name generator call.
func execGen(ctx context.Context, name string, wire []byte, yield func(any) error) error {
	_, worker, args, err := readFuncSpec(wire)
	if err != nil {
		return &argError{fmt.Errorf("task %q: %w", name, err)}
	}
	if worker.gen == nil {
		return &argError{fmt.Errorf("%w: no generator function named %q", ErrNotRegistered, worker.name)}
	}
	return remoteErr(worker.gen(ctx, args, func(v any) error {
		x, err := roundTrip(worker.result, v)
		if err != nil {
			return err
		}
		return yield(x)
	}))
}
