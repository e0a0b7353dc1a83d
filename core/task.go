package core

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	taskNew       int32 = iota // made, not yet submitted
	taskWaiting                // waiting for arguments
	taskQueued                 // waiting for resources
	taskRunning                // running user code
	taskBackoff                // waiting out the delay before a retry
	taskDone                   // finished, result stored
	taskCancelled              // cancelled before it finished
)

// task is one remote call of a function: its code, resources, retry policy
// and the object its result goes to.
type task struct {
	rt      *Runtime
	name    string
	opts    *options
	run     func(ctx context.Context) (any, error) // resolves args, calls user code; nil once settled
	out     *object
	state   atomic.Int32
	blocked atomic.Int32 // nesting depth of Gets that gave the CPUs back
	w       *worker      // the worker running it, while it runs
	attempt int

	tctx taskContext
	n    idCounters // what it submitted and put; its ID is out.id.Task()

	mu        sync.Mutex
	ctx       context.Context // made lazily by taskContext
	cancel    context.CancelFunc
	cancelled bool

	// x holds what only some tasks need (children, a caller's context to
	// watch, a cancellation, a pending retry), made on first use under mu,
	// so a plain task stays small and settles without a lock.
	x atomic.Pointer[taskExtra]
}

// idCounters count what a task, an actor or the driver submitted (tasks,
// actors, method calls) and put so far.
type idCounters struct {
	tasks atomic.Uint64
	puts  atomic.Uint32 // an ObjectID has 31 bits for the put index
}

// submitter names the work of a task, an actor or the driver: its
// index-th submission is NewTaskID(id, index) (NewActorTaskID for a method
// call, NewActorID for an actor), its index-th Put PutObjectID(id, index),
// both counted from 1, as in Ray.
type submitter struct {
	id TaskID
	n  *idCounters
}

// nextTaskID is the ID of the next task s submits.
func (s submitter) nextTaskID() TaskID { return NewTaskID(s.id, s.n.tasks.Add(1)) }

// nextActorTaskID is the ID of the next method call s makes on actor.
func (s submitter) nextActorTaskID(actor ActorID) TaskID {
	return NewActorTaskID(actor, s.id, s.n.tasks.Add(1))
}

// nextActorID is the ID of the next actor s creates.
func (s submitter) nextActorID(job JobID) ActorID { return NewActorID(job, s.id, s.n.tasks.Add(1)) }

// nextPutID is the ObjectID of the next value s puts.
func (s submitter) nextPutID() ObjectID { return PutObjectID(s.id, s.n.puts.Add(1)) }

// submitterFor is who makes a call with ctx in rt: parent (the task whose
// context ctx is) if not nil, else the actor whose context it is, else
// rt's driver.
func (rt *Runtime) submitterFor(ctx context.Context, parent *task) submitter {
	if parent != nil && parent.rt == rt {
		return submitter{parent.out.id.Task(), &parent.n}
	}
	if a, ok := ctx.Value(holderKey{}).(*actor); ok && a.rt == rt {
		return submitter{ActorCreationTaskID(a.id), &a.n}
	}
	return rt.driverSub()
}

// driverSub is the submitter of what the program does outside any task.
func (rt *Runtime) driverSub() submitter { return submitter{rt.driverID, &rt.driver} }

// CurrentTaskID is the TaskID of the task ctx is the context of: the
// parent of the tasks and Puts made with ctx. In an actor's constructor or
// methods it is the actor's ActorCreationTaskID; outside any task, the
// driver's (DriverTaskID of the runtime's job). Without a runtime it is
// the nil ID.
func CurrentTaskID(ctx context.Context) TaskID {
	if t := taskFromContext(ctx); t != nil {
		return t.out.id.Task()
	}
	if a, ok := ctx.Value(holderKey{}).(*actor); ok {
		return ActorCreationTaskID(a.id)
	}
	if rt := global.rt.Load(); rt != nil {
		return rt.driverID
	}
	return TaskID{}
}

// taskExtra is the rarely used part of a task.
type taskExtra struct {
	// Guarded by the task's mu.
	cancelErr  error       // what the ref gets once a cancelled running task returns
	children   []*task     // tasks submitted from its context, for recursive Cancel
	stopCaller func() bool // stops watching the caller's context
	depCancels []func()    // drop its callbacks on the ref arguments it waits for
	settled    bool        // its outcome is final: track nothing more

	caller context.Context // the context Remote was called with, if it can end; set before submit
	retry  *time.Timer     // the pending retry; guarded by rt.retryMu

	// Set before submit, for a task with several returns: the objects of
	// returns 2..n (the first is the task's out).
	rest []*object
}

// extra returns t.x, making it. Caller holds t.mu.
func (t *task) extra() *taskExtra {
	x := t.x.Load()
	if x == nil {
		x = &taskExtra{}
		t.x.Store(x)
	}
	return x
}

// cancelError is the error a cancelled task's ref gets.
func (t *task) cancelError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x := t.x.Load(); x != nil && x.cancelErr != nil {
		return x.cancelErr
	}
	return fmt.Errorf("%w: task %q", ErrTaskCancelled, t.name)
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

// Value answers for the task; other keys go to the task's cancellable
// context once it exists (so context.Cause and contexts derived from this
// one see the task's cancellation without a goroutine each), else to the
// runtime's.
func (c *taskContext) Value(key any) any {
	if key == (taskKey{}) {
		return c.t
	}
	c.t.mu.Lock()
	tctx := c.t.ctx
	c.t.mu.Unlock()
	if tctx != nil {
		return tctx.Value(key)
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

// addChild records c, submitted from t's context, so that cancelling t
// cancels c. Finished children are pruned as the list grows, so a
// long-running task that submits many tasks keeps only the live ones.
func (t *task) addChild(c *task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	x := t.extra()
	if x.settled {
		return
	}
	if n := len(x.children); n >= 16 && n == cap(x.children) {
		live := x.children[:0]
		for _, ch := range x.children {
			if s := ch.state.Load(); s != taskDone && s != taskCancelled {
				live = append(live, ch)
			}
		}
		clear(x.children[len(live):])
		x.children = live
	}
	x.children = append(x.children, c)
}

// watchCaller cancels t when ctx, the context Remote was called with, ends.
// It runs before t is submitted.
func (t *task) watchCaller(ctx context.Context) {
	t.mu.Lock()
	x := t.extra()
	x.caller = ctx
	t.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		t.rt.cancelTask(t, cancelConfig{recursive: true, caller: ctx})
	})
	t.mu.Lock()
	if x.settled {
		t.mu.Unlock()
		stop()
		return
	}
	x.stopCaller = stop
	t.mu.Unlock()
}

// settle drops what t kept for its cancellation once its outcome is final:
// the watch on its caller's context, its children, and its callbacks on
// the arguments it waited for (a task cancelled while it waits must not
// stay reachable, with its closure and arguments, from an argument that is
// still being computed). Its object forgets t in object.finish.
func (t *task) settle() {
	x := t.x.Load()
	if x == nil {
		return
	}
	t.mu.Lock()
	x.settled = true
	stop, deps := x.stopCaller, x.depCancels
	x.stopCaller, x.children, x.depCancels = nil, nil, nil
	t.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, c := range deps {
		c()
	}
}

// addDepCancel records how to drop a callback on an argument; once t is
// settled it drops it at once.
func (t *task) addDepCancel(c func()) {
	t.mu.Lock()
	x := t.extra()
	if !x.settled {
		x.depCancels = append(x.depCancels, c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c()
}

// fail completes t's objects with err and settles t.
func (t *task) fail(err error) {
	t.abandon(err)
	t.settle()
}

// abandon completes t's objects with err.
func (t *task) abandon(err error) {
	t.out.complete(nil, err)
	if x := t.x.Load(); x != nil {
		for _, o := range x.rest {
			o.complete(nil, err)
		}
	}
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
		t.fail(fmt.Errorf("%w: task %q never started", ErrShutdown, t.name))
		return
	}
	if x := t.x.Load(); x != nil && x.caller != nil && x.caller.Err() != nil {
		// Its caller gave up before it started; the watch may not have run yet.
		c := cancelConfig{caller: x.caller}
		t.state.Store(taskCancelled)
		t.run = nil
		t.fail(c.err(t.name))
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
		t.run = nil
		t.fail(t.cancelError())
		return
	}
	var ae *argError
	if errors.As(err, &ae) {
		t.state.Store(taskDone)
		t.run = nil
		t.fail(ae.err)
		return
	}
	if err == nil && !panicked {
		t.state.Store(taskDone)
		t.run = nil
		if x := t.x.Load(); x != nil && x.rest != nil {
			rt.finishAll(t, x.rest, v)
		} else {
			rt.finish(t.out, v)
		}
		t.settle()
		return
	}
	if rt.closed.Load() {
		t.state.Store(taskDone)
		t.run = nil
		t.fail(fmt.Errorf("%w: task %q was running at shutdown", ErrShutdown, t.name))
		return
	}
	retry := t.opts.maxRetries < 0 || t.attempt <= t.opts.maxRetries
	if panicked && retry || !panicked && taskRetriesOn(t.opts, err) && retry {
		rt.retryLater(t)
		return
	}
	t.state.Store(taskDone)
	t.run = nil
	te := &TaskError{Task: t.name, Attempts: t.attempt, Cause: err, kind: ErrTaskFailed}
	if panicked {
		te.kind, te.Panic, te.Stack, te.Cause = ErrWorkerCrashed, v, stack, nil
	}
	t.fail(te)
}

// taskRetriesOn reports whether a returned error is worth another attempt:
// with RetryOn, one that matches a listed kind; else any, with
// RetryExceptions. The error is the one the task's ref would get, so in
// encode-all mode (as on a cluster) it has crossed the codec and matches
// only the runtime's categories and errors registered with RegisterError.
func taskRetriesOn(o *options, err error) bool { return o.retriesErr(err) }

// Retries back off exponentially, as Ray's do: a task that always fails
// waits 1 ms, 2 ms, 4 ms, ... up to a second between attempts instead of
// spinning. The wait holds no worker and no resources.
const (
	retryBaseDelay = time.Millisecond
	retryMaxDelay  = time.Second
)

// retryDelay is the wait before the attempt after attempt number n (1-based).
func retryDelay(n int) time.Duration {
	return min(retryBaseDelay<<min(max(n-1, 0), 20), retryMaxDelay)
}

// retryLater resubmits t after its backoff delay. The pending timer is
// counted in rt.wg; Cancel and Shutdown stop it (stopRetry, stopRetries).
func (rt *Runtime) retryLater(t *task) {
	t.mu.Lock()
	x := t.extra()
	t.mu.Unlock()
	rt.retryMu.Lock()
	if rt.closed.Load() {
		rt.retryMu.Unlock()
		t.state.Store(taskDone)
		t.run = nil
		t.fail(fmt.Errorf("%w: task %q was running at shutdown", ErrShutdown, t.name))
		return
	}
	if !t.state.CompareAndSwap(taskRunning, taskBackoff) { // cancelled as it returned
		rt.retryMu.Unlock()
		t.run = nil
		t.fail(t.cancelError())
		return
	}
	if rt.retrying == nil {
		rt.retrying = map[*task]struct{}{}
	}
	rt.retrying[t] = struct{}{}
	rt.wg.Add(1) // a worker is running, so the count is not zero
	x.retry = time.AfterFunc(retryDelay(t.attempt), func() { rt.retryNow(t) })
	rt.retryMu.Unlock()
}

// retryNow runs when t's backoff is over. Whoever takes t out of
// rt.retrying (here, stopRetry or stopRetries) owns its wait group count.
func (rt *Runtime) retryNow(t *task) {
	rt.retryMu.Lock()
	_, mine := rt.retrying[t]
	delete(rt.retrying, t)
	rt.retryMu.Unlock()
	if !mine {
		return
	}
	defer rt.wg.Done()
	if t.state.CompareAndSwap(taskBackoff, taskQueued) {
		rt.sched.submit(t)
	}
}

// stopRetry stops t's pending retry timer, if it has one.
func (rt *Runtime) stopRetry(t *task) {
	rt.retryMu.Lock()
	_, mine := rt.retrying[t]
	delete(rt.retrying, t)
	var tm *time.Timer
	if x := t.x.Load(); x != nil {
		tm = x.retry
	}
	rt.retryMu.Unlock()
	if mine {
		tm.Stop()
		rt.wg.Done()
	}
}

// stopRetries fails every task waiting out a backoff (shutdown).
func (rt *Runtime) stopRetries() {
	rt.retryMu.Lock()
	ts := rt.retrying
	rt.retrying = nil
	rt.retryMu.Unlock()
	for t := range ts {
		t.x.Load().retry.Stop()
		rt.wg.Done()
		if t.state.CompareAndSwap(taskBackoff, taskCancelled) {
			t.fail(fmt.Errorf("%w: task %q was waiting to retry at shutdown", ErrShutdown, t.name))
		}
	}
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

// finishAll stores the results of a task with several returns: v holds
// one value per return, the first for t.out and the others for rest.
func (rt *Runtime) finishAll(t *task, rest []*object, v any) {
	vs, ok := v.([]any)
	if !ok || len(vs) != len(rest)+1 {
		t.abandon(fmt.Errorf("%w: task %q gave %T for %d returns", ErrInvalidInput, t.name, v, len(rest)+1))
		return
	}
	rt.finish(t.out, vs[0])
	for i, o := range rest {
		rt.finish(o, vs[i+1])
	}
}

// submit sends a task to the scheduler once its ref arguments are ready.
// A task cancelled before it was submitted is already complete.
func (rt *Runtime) submit(t *task, deps []*object) {
	if len(deps) == 0 {
		if t.state.CompareAndSwap(taskNew, taskQueued) {
			rt.sched.submit(t)
		}
		return
	}
	if !t.state.CompareAndSwap(taskNew, taskWaiting) {
		return
	}
	var pending atomic.Int64
	pending.Store(int64(len(deps)))
	for _, d := range deps {
		t.addDepCancel(d.onDone(func() {
			if pending.Add(-1) != 0 {
				return
			}
			if !t.state.CompareAndSwap(taskWaiting, taskQueued) {
				return
			}
			if rt.closed.Load() {
				t.state.Store(taskCancelled)
				t.fail(fmt.Errorf("%w: task %q never started", ErrShutdown, t.name))
				return
			}
			rt.sched.submit(t)
		}))
	}
}

// cancelConfig is what Cancel was asked to do.
type cancelConfig struct {
	force     bool
	recursive bool
	caller    context.Context // set when the caller's context ended
	parent    string          // set when a parent's cancellation reached this task
}

func (c *cancelConfig) err(name string) error {
	switch {
	case c.caller != nil:
		return fmt.Errorf("%w: task %q: the context it was called with ended: %w", ErrTaskCancelled, name, context.Cause(c.caller))
	case c.parent != "":
		return fmt.Errorf("%w: task %q: the task %q that submitted it was cancelled", ErrTaskCancelled, name, c.parent)
	}
	return fmt.Errorf("%w: task %q", ErrTaskCancelled, name)
}

// cancelTask stops t: one that has not started never runs; a running one
// sees its context cancelled and its ref fails once it returns, or at once
// with force. With recursive, the tasks it submitted are cancelled too.
func (rt *Runtime) cancelTask(t *task, c cancelConfig) {
	var children []*task
	if c.recursive {
		t.mu.Lock()
		if x := t.x.Load(); x != nil {
			children = slices.Clone(x.children)
		}
		t.mu.Unlock()
	}
	err := c.err(t.name)
loop:
	for {
		s := t.state.Load()
		switch s {
		case taskDone:
			break loop
		case taskCancelled:
			if c.force { // a plain Cancel asked it to stop; stop waiting for it
				t.abandon(err)
			}
			break loop
		case taskNew, taskWaiting, taskQueued:
			if t.state.CompareAndSwap(s, taskCancelled) {
				if s == taskQueued {
					rt.sched.remove(t)
				}
				t.fail(err)
				break loop
			}
		case taskBackoff:
			if t.state.CompareAndSwap(s, taskCancelled) {
				rt.stopRetry(t)
				t.fail(err)
				break loop
			}
		case taskRunning:
			if t.state.CompareAndSwap(s, taskCancelled) {
				t.mu.Lock()
				t.cancelled = true
				t.extra().cancelErr = err
				if t.cancel != nil {
					t.cancel()
				}
				t.mu.Unlock()
				if c.force {
					t.abandon(err)
				}
				break loop
			}
		}
	}
	if len(children) > 0 {
		cc := cancelConfig{force: c.force, recursive: true, parent: t.name}
		for _, ch := range children {
			rt.cancelTask(ch, cc)
		}
	}
}

// failedRef returns a ref that already holds err.
func failedRef[R any](rt *Runtime, err error) Ref[R] {
	if rt == nil {
		rt = deadRuntime()
	}
	obj := &object{id: ReturnObjectID(rt.driverSub().nextTaskID(), 1), err: err}
	obj.finished.Store(true)
	return Ref[R]{h: newHandle(rt, obj)}
}

// failedObject is the handle of an object id that holds err: the result
// of a call that failed before its task was made.
func failedObject(rt *Runtime, id ObjectID, err error) *refHandle {
	obj := &object{id: id, err: err}
	obj.finished.Store(true)
	return newHandle(rt, obj)
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

func (s *spec) withOptions(opts []FuncOption) spec {
	c := *s
	c.opts.res = s.opts.res.clone()
	c.opts.applyFunc(opts)
	return c
}

// launch submits a typed call with one return to the backend of ctx.
func launch[R any](ctx context.Context, s *spec, deps []*object, run func(ctx context.Context) (any, error)) Ref[R] {
	b, parent, sub, err := callerFor(ctx)
	if err != nil {
		return failedRef[R](nil, err)
	}
	return Ref[R]{h: b.submitTask(ctx, taskCall{spec: s, parent: parent, id: sub.nextTaskID(), run: run, deps: deps})}
}

// prepare checks a call of s with n returns before it becomes a task: the
// error its refs get, if any.
func (rt *Runtime) prepare(ctx context.Context, s *spec, n int) error {
	if s.opts.err != nil {
		return fmt.Errorf("task %q: %w", s.name, s.opts.err)
	}
	if k := s.opts.task.numReturns; k != 0 && k != n {
		return fmt.Errorf("%w: task %q: option NumReturns(%d) on a function with %d return(s); a variable number needs a FuncAxN registration",
			ErrInvalidInput, s.name, k, n)
	}
	if err := rt.sched.feasible("task", s.name, &s.opts.res); err != nil {
		return err
	}
	return ctx.Err()
}

// newTask builds the task id of a call of s, its first result
// ReturnObjectID(id, first); it returns the ref arguments the task must
// wait for.
func (rt *Runtime) newTask(s *spec, id TaskID, first uint32, deps []*object, run func(ctx context.Context) (any, error)) (*task, []*object) {
	var live []*object
	var argIDs *[maxArgs]ObjectID
	for i, d := range deps {
		if d == nil {
			continue
		}
		if argIDs == nil {
			argIDs = new([maxArgs]ObjectID)
		}
		argIDs[i] = d.id
		if !d.isDone() {
			live = append(live, d)
		}
	}
	t := &task{rt: rt, name: s.name, opts: &s.opts, run: run, out: rt.store.newObject(ReturnObjectID(id, first))}
	t.out.producer = t
	t.out.fn, t.out.argIDs = s, argIDs
	return t, live
}

// start submits t, called from ctx (in parent's context if parent is not
// nil), once the ref arguments in live are ready.
func (rt *Runtime) start(ctx context.Context, parent, t *task, live []*object) {
	if parent != nil {
		parent.addChild(t)
	}
	// The caller's cancellation reaches the task. A task's own context needs
	// no watch: cancelling that task cancels its children (recursive Cancel).
	// A context that can never end (Background) costs nothing here.
	if parent == nil || ctx != context.Context(&parent.tctx) {
		if ctx.Done() != nil {
			t.watchCaller(ctx)
		}
	}
	rt.submit(t, live)
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
