package core

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const (
	taskWaiting   int32 = iota // waiting for arguments
	taskQueued                 // waiting for resources
	taskRunning                // running user code
	taskDone                   // finished, result stored
	taskCancelled              // cancelled before it finished
)

// task is one remote call of a function: its code, resources, retry policy
// and the object its result goes to.
type task struct {
	rt      *Runtime
	name    string
	opts    *options
	run     func(ctx context.Context) (any, error) // resolves args, calls user code
	out     *object
	state   atomic.Int32
	blocked atomic.Int32 // nesting depth of Gets that gave the CPUs back
	w       *worker      // the worker running it, while it runs
	attempt int

	tctx taskContext

	mu        sync.Mutex
	ctx       context.Context // made lazily by taskContext
	cancel    context.CancelFunc
	cancelled bool
}

type taskKey struct{}

// taskContext is the context user code runs with. It carries the running
// task (so Get inside it can give the CPUs back) and makes its cancellable
// context only when user code asks for Done or Err: most small tasks never
// do, and context.WithCancel per task would dominate their cost.
type taskContext struct {
	parent context.Context // the runtime's context
	t      *task
}

func (c *taskContext) Value(key any) any {
	if key == (taskKey{}) {
		return c.t
	}
	return c.parent.Value(key)
}

func (c *taskContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *taskContext) Done() <-chan struct{}       { return c.t.context(c.parent).Done() }
func (c *taskContext) Err() error                  { return c.t.context(c.parent).Err() }

// context returns the task's cancellable context, making it on first use.
func (t *task) context(parent context.Context) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		t.ctx, t.cancel = context.WithCancel(parent)
		if t.cancelled {
			t.cancel()
		}
	}
	return t.ctx
}

func taskFromContext(ctx context.Context) *task {
	t, _ := ctx.Value(taskKey{}).(*task)
	return t
}

// holder is what runs user code while holding resources: a task, or an
// actor call. While it blocks in Get or Wait it gives its CPUs back.
type holder interface {
	block()
	unblock()
}

type holderKey struct{}

func holderFromContext(ctx context.Context) holder {
	if t := taskFromContext(ctx); t != nil {
		return t
	}
	h, _ := ctx.Value(holderKey{}).(holder)
	return h
}

func (t *task) block()   { t.rt.sched.block(t) }
func (t *task) unblock() { t.rt.sched.unblock(t) }

// worker is one goroutine running tasks. It holds the resources of the
// task it runs and keeps them to run queued tasks of the same shape, taking
// a few at a time so that a busy queue is not a lock hand-off per task.
type worker struct {
	batch []*task
	pos   int
}

// startWorker runs t and then whatever the scheduler hands it. Callers
// are running runtime goroutines, so the wait group is never at zero here.
func (rt *Runtime) startWorker(t *task) {
	rt.wg.Add(1)
	rt.runWorker(t)
}

// runWorker starts a worker already counted in rt.wg.
func (rt *Runtime) runWorker(t *task) {
	go func() {
		defer rt.wg.Done()
		w := &worker{batch: make([]*task, 0, maxBatch)}
		w.batch = append(w.batch, t)
		for len(w.batch) > 0 {
			res := w.batch[0].opts.res
			for w.pos < len(w.batch) {
				t := w.batch[w.pos]
				w.pos++
				rt.execute(t, w)
			}
			clear(w.batch)
			w.batch, w.pos = w.batch[:0], 0
			rt.sched.next(&res, w)
		}
	}()
}

// execute runs one attempt of t and stores its result or schedules a retry.
func (rt *Runtime) execute(t *task, w *worker) {
	if !t.state.CompareAndSwap(taskQueued, taskRunning) {
		return // cancelled while queued
	}
	if rt.closed.Load() {
		t.state.Store(taskCancelled)
		t.out.complete(nil, fmt.Errorf("%w: task %q never started", ErrShutdown, t.name))
		return
	}
	t.w = w
	t.attempt++
	t.tctx = taskContext{parent: rt.ctx, t: t}
	v, err, panicked, stack := callSafely(&t.tctx, t.run)
	t.w = nil
	t.mu.Lock()
	if t.cancel != nil {
		t.cancel()
		t.ctx, t.cancel = nil, nil
	}
	t.mu.Unlock()

	if t.state.Load() == taskCancelled {
		t.out.complete(nil, fmt.Errorf("%w: task %q", ErrTaskCancelled, t.name))
		return
	}
	var ae *argError
	if errors.As(err, &ae) {
		t.state.Store(taskDone)
		t.out.complete(nil, ae.err)
		return
	}
	if err == nil && !panicked {
		t.state.Store(taskDone)
		rt.finish(t.out, v)
		return
	}
	if rt.closed.Load() {
		t.state.Store(taskDone)
		t.out.complete(nil, fmt.Errorf("%w: task %q was running at shutdown", ErrShutdown, t.name))
		return
	}
	retry := t.opts.maxRetries < 0 || t.attempt <= t.opts.maxRetries
	if panicked && retry || !panicked && t.opts.retryExceptions && retry {
		t.state.Store(taskQueued)
		rt.sched.submit(t)
		return
	}
	t.state.Store(taskDone)
	te := &TaskError{Task: t.name, Attempts: t.attempt, Cause: err, kind: ErrTaskFailed}
	if panicked {
		te.kind, te.Panic, te.Stack, te.Cause = ErrWorkerCrashed, v, stack, nil
	}
	t.out.complete(nil, te)
}

// callSafely runs f, turning a panic into (panicValue, nil, true, stack).
func callSafely(ctx context.Context, f func(context.Context) (any, error)) (v any, err error, panicked bool, stack string) {
	defer func() {
		if p := recover(); p != nil {
			v, err, panicked, stack = p, nil, true, string(debug.Stack())
		}
	}()
	v, err = f(ctx)
	return v, err, false, ""
}

// finish stores a successful result: the store accounts (and may spill)
// the value before the object completes, so every reader sees the same
// outcome.
func (rt *Runtime) finish(obj *object, v any) {
	if obj.isDone() {
		return
	}
	obj.setValue(v)
	obj.completeErr(rt.store.admit(obj))
}

// submit sends a task to the scheduler once its ref arguments are ready.
func (rt *Runtime) submit(t *task, deps []*object) {
	t.out.producer = t
	if len(deps) == 0 {
		t.state.Store(taskQueued)
		rt.sched.submit(t)
		return
	}
	t.state.Store(taskWaiting)
	var pending atomic.Int64
	pending.Store(int64(len(deps)))
	for _, d := range deps {
		d.onDone(func() {
			if pending.Add(-1) != 0 {
				return
			}
			if !t.state.CompareAndSwap(taskWaiting, taskQueued) {
				return
			}
			if rt.closed.Load() {
				t.state.Store(taskCancelled)
				t.out.complete(nil, fmt.Errorf("%w: task %q never started", ErrShutdown, t.name))
				return
			}
			rt.sched.submit(t)
		})
	}
}

func (rt *Runtime) cancelTask(t *task) {
	for {
		s := t.state.Load()
		switch s {
		case taskDone, taskCancelled:
			return
		case taskWaiting, taskQueued:
			if t.state.CompareAndSwap(s, taskCancelled) {
				rt.sched.remove(t)
				t.out.complete(nil, fmt.Errorf("%w: task %q", ErrTaskCancelled, t.name))
				return
			}
		case taskRunning:
			if t.state.CompareAndSwap(s, taskCancelled) {
				t.mu.Lock()
				t.cancelled = true
				if t.cancel != nil {
					t.cancel()
				}
				t.mu.Unlock()
				return
			}
		}
	}
}

// failedRef returns a ref that already holds err.
func failedRef[R any](rt *Runtime, err error) Ref[R] {
	if rt == nil {
		rt = deadRuntime()
	}
	obj := &object{id: rt.store.nextID.Add(1), err: err}
	obj.finished.Store(true)
	return Ref[R]{h: newHandle(rt, obj)}
}

// resolve reads an Arg: a plain value, or the value of a complete Ref.
func resolve[T any](rt *Runtime, a Arg[T], i int, task string) (T, error) {
	v, obj, isRef := a.resolveArg()
	if !isRef {
		return v, nil
	}
	var zero T
	if obj == nil {
		return zero, fmt.Errorf("%w: task %q argument %d is a zero Ref", ErrInvalidInput, task, i)
	}
	x, err := rt.store.load(obj)
	if err != nil {
		return zero, &argError{wrapRefErr(task, i, err)}
	}
	if x == nil {
		return zero, nil
	}
	t, ok := x.(T)
	if !ok {
		return zero, fmt.Errorf("%w: task %q argument %d: ref holds %T, want %T", ErrInvalidInput, task, i, x, zero)
	}
	return t, nil
}

// argDep returns the object an Arg waits for, or nil for a plain value.
func argDep[T any](a Arg[T]) *object {
	_, obj, isRef := a.resolveArg()
	if isRef {
		return obj
	}
	return nil
}

// spec is what every remote function shares: its name and default options.
type spec struct {
	name string
	opts options
}

func (s *spec) withOptions(opts []Option) spec {
	c := *s
	c.opts.res = s.opts.res.clone()
	c.opts.apply(opts)
	return c
}

// launch builds and submits a task for a typed call.
func launch[R any](ctx context.Context, s *spec, deps []*object, run func(ctx context.Context) (any, error)) Ref[R] {
	rt, err := current()
	if err != nil {
		return failedRef[R](nil, err)
	}
	if s.opts.err != nil {
		return failedRef[R](rt, fmt.Errorf("task %q: %w", s.name, s.opts.err))
	}
	if err := rt.sched.feasible("task", s.name, &s.opts.res); err != nil {
		return failedRef[R](rt, err)
	}
	if err := ctx.Err(); err != nil {
		return failedRef[R](rt, err)
	}
	live := deps[:0:0]
	for _, d := range deps {
		if d != nil && !d.isDone() {
			live = append(live, d)
		}
	}
	t := &task{rt: rt, name: s.name, opts: &s.opts, run: run, out: rt.store.newObject()}
	ref := Ref[R]{h: newHandle(rt, t.out)}
	rt.submit(t, live)
	return ref
}

// argError marks a failure to read an argument: the task does not run and
// is not retried; the argument's error becomes its error.
type argError struct{ err error }

func (e *argError) Error() string { return e.err.Error() }
func (e *argError) Unwrap() error { return e.err }

// wrapRefErr passes a dependency's error on, naming the argument.
func wrapRefErr(task string, i int, err error) error {
	if errors.Is(err, ErrTaskCancelled) || errors.Is(err, ErrShutdown) {
		return err
	}
	return fmt.Errorf("task %q argument %d: %w", task, i, err)
}
