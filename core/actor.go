package core

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// ActorDirectory is the part of a runtime that knows where actors live and
// finds named ones. The embedded runtime keeps them in this process.
type ActorDirectory interface {
	// Names lists the named actors alive now.
	Names() []string
}

type actorDirectory struct {
	mu     sync.Mutex
	closed bool
	byName map[string]*actor
	all    map[*actor]struct{}
}

var _ ActorDirectory = (*actorDirectory)(nil)

func newActorDirectory() *actorDirectory {
	return &actorDirectory{byName: map[string]*actor{}, all: map[*actor]struct{}{}}
}

func (d *actorDirectory) Names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.byName))
	for n := range d.byName {
		out = append(out, n)
	}
	return out
}

// add registers a and counts its loop in the runtime's wait group; after
// shutdown began (killAll took this lock) it refuses.
func (d *actorDirectory) add(a *actor) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("%w: cannot start actor %q", ErrShutdown, a.class)
	}
	if a.name != "" {
		if _, dup := d.byName[a.name]; dup {
			return fmt.Errorf("%w: an actor named %q already exists", ErrInvalidInput, a.name)
		}
		d.byName[a.name] = a
	}
	d.all[a] = struct{}{}
	a.rt.wg.Add(1)
	return nil
}

func (d *actorDirectory) remove(a *actor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a.name != "" && d.byName[a.name] == a {
		delete(d.byName, a.name)
	}
	delete(d.all, a)
}

func (d *actorDirectory) lookup(name string) *actor {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byName[name]
}

func (d *actorDirectory) killAll(err error) {
	d.mu.Lock()
	d.closed = true
	all := make([]*actor, 0, len(d.all))
	for a := range d.all {
		all = append(all, a)
	}
	d.mu.Unlock()
	for _, a := range all {
		a.kill(err)
	}
}

// classInfo and methodInfo record registered names, so a name is never
// used twice and a cluster worker can find code by name.
type classInfo struct {
	name string
	typ  reflect.Type
}

type methodInfo struct {
	name  string
	class reflect.Type
}

func registerClass(name string, typ reflect.Type) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" {
		panic("goray: core.Actor: empty name")
	}
	if registry.classes == nil {
		registry.classes = map[string]*classInfo{}
	}
	if _, dup := registry.classes[name]; dup {
		panic(fmt.Sprintf("goray: actor class %q registered twice; names must be unique", name))
	}
	registry.classes[name] = &classInfo{name: name, typ: typ}
}

func registerMethod(name string, class reflect.Type) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" {
		panic("goray: core.Method: empty name")
	}
	if registry.methods == nil {
		registry.methods = map[string]*methodInfo{}
	}
	if _, dup := registry.methods[name]; dup {
		panic(fmt.Sprintf("goray: actor method %q registered twice; names must be unique", name))
	}
	registry.methods[name] = &methodInfo{name: name, class: class}
}

const (
	actorStarting = iota
	actorAlive
	actorDead
)

// actor is one live actor: a mailbox served by one run loop goroutine.
// Calls run one at a time in order, or up to maxConcurrency at once.
type actor struct {
	rt    *Runtime
	class string
	name  string
	typ   reflect.Type
	opts  options
	ctor  func(ctx context.Context) (any, error)

	ctx     context.Context
	cancel  context.CancelFunc
	ready   chan struct{} // closed once the first constructor attempt ended
	stopped chan struct{} // closed when the run loop has exited
	wake    chan struct{}

	blocked atomic.Int32 // calls blocked in Get that gave the CPUs back

	mu       sync.Mutex
	cond     *sync.Cond // on mu: wakes concurrent workers
	queue    []*actorCall
	state    int
	inst     any
	deathErr error
	restarts int
}

type actorCall struct {
	method  string
	fn      func(ctx context.Context, inst any) (any, error)
	out     *object
	attempt int
	w       *callWatch // nil when the caller's context cannot end (Background)
}

// callWatch ties a call to the context it was called with: the call runs
// under ctx, the actor's context cancelled also when the caller's ends.
type callWatch struct {
	caller    context.Context
	ctx       context.Context
	cancel    context.CancelFunc
	stop      func() bool  // ends the watch on caller
	state     atomic.Int32 // callQueued, callRunning, callCancelled
	cancelErr atomic.Pointer[error]
}

const (
	callQueued int32 = iota
	callRunning
	callCancelled
)

// watchCaller makes the end of caller's context cancel the call: a queued
// call fails at once with ErrTaskCancelled and never runs; a running one
// sees its context cancelled and fails so once it returns. It runs before
// the call is sent.
func (c *actorCall) watchCaller(a *actor, caller context.Context) {
	w := &callWatch{caller: caller}
	w.ctx, w.cancel = context.WithCancel(a.ctx)
	c.w = w
	w.stop = context.AfterFunc(caller, func() { c.callerEnded() })
}

// callerEnded cancels the call because its caller's context ended.
func (c *actorCall) callerEnded() {
	w := c.w
	err := fmt.Errorf("%w: call %q: the context it was called with ended: %w", ErrTaskCancelled, c.method, context.Cause(w.caller))
	w.cancelErr.CompareAndSwap(nil, &err)
	for {
		switch s := w.state.Load(); s {
		case callQueued:
			if w.state.CompareAndSwap(s, callCancelled) {
				c.out.complete(nil, err)
				w.cancel() // (w.stop may not be set yet when this runs as the watch)
				return
			}
		case callRunning:
			if w.state.CompareAndSwap(s, callCancelled) {
				w.cancel()
				return
			}
		default:
			return
		}
	}
}

// cancelled reports whether the caller's context ended, and the error the
// call then fails with.
func (c *actorCall) cancelled() (error, bool) {
	if c.w == nil || c.w.state.Load() != callCancelled {
		return nil, false
	}
	return *c.w.cancelErr.Load(), true
}

// release ends the watch on the caller's context; it may run more than once.
func (c *actorCall) release() {
	if c.w != nil {
		c.w.stop()
		c.w.cancel()
	}
}

func spawnActor(ctx context.Context, class string, typ reflect.Type, opts options, ctor func(context.Context) (any, error)) (*actor, error) {
	rt, _, err := runtimeFor(ctx)
	if err != nil {
		return nil, err
	}
	if opts.err != nil {
		return nil, fmt.Errorf("actor %q: %w", class, opts.err)
	}
	if err := rt.sched.feasible("actor", class, &opts.res); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a := &actor{rt: rt, class: class, name: opts.name, typ: typ, opts: opts, ctor: ctor,
		ready: make(chan struct{}), wake: make(chan struct{}, 1)}
	a.cond = sync.NewCond(&a.mu)
	a.ctx, a.cancel = context.WithCancel(rt.ctx)
	a.stopped = make(chan struct{})
	if err := rt.actors.add(a); err != nil {
		return nil, err
	}
	go a.run()
	return a, nil
}

// actorContext is the context actor code runs with: the actor's own, plus
// the actor as a resource holder so that a call blocked in Get gives the
// actor's CPUs back (a trainer worker streaming a dataset through tasks
// must not starve those tasks).
type actorContext struct {
	context.Context
	a *actor
}

func (c actorContext) Value(key any) any {
	if key == (holderKey{}) {
		return c.a
	}
	return c.Context.Value(key)
}

func (a *actor) block() {
	if a.blocked.Add(1) == 1 && a.opts.res.cpu > 0 {
		r := resources{cpu: a.opts.res.cpu}
		a.rt.sched.giveBack(&r)
	}
}

func (a *actor) unblock() {
	if a.blocked.Add(-1) == 0 && a.opts.res.cpu > 0 {
		a.rt.sched.mu.Lock()
		a.rt.sched.avail.cpu -= a.opts.res.cpu
		a.rt.sched.mu.Unlock()
	}
}

func (a *actor) construct() (any, error) {
	v, err, panicked, stack := callSafely(actorContext{a.ctx, a}, a.ctor)
	if panicked {
		return nil, &TaskError{Task: a.class + " constructor", Attempts: 1, Panic: v, Stack: stack, kind: ErrActorDied}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: actor %q constructor: %w", ErrActorDied, a.class, err)
	}
	return v, nil
}

func (a *actor) run() {
	defer a.rt.wg.Done()
	defer close(a.stopped)
	defer a.rt.actors.remove(a)
	if !a.rt.sched.acquire(a.ctx.Done(), &a.opts.res) {
		a.kill(fmt.Errorf("%w: actor %q stopped before it started", ErrActorDied, a.class))
		close(a.ready)
		a.drainDead()
		return
	}
	defer a.rt.sched.giveBack(&a.opts.res)
	inst, err := a.construct()
	a.mu.Lock()
	if a.state != actorDead {
		if err != nil {
			a.state, a.deathErr = actorDead, err
		} else {
			a.state, a.inst = actorAlive, inst
		}
	}
	a.mu.Unlock()
	close(a.ready)

	if a.opts.maxConcurrency > 1 {
		a.serveConcurrently()
		a.drainDead()
		return
	}
	for {
		a.mu.Lock()
		if a.state == actorDead {
			a.mu.Unlock()
			break
		}
		batch := a.queue
		a.queue = nil
		a.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-a.wake:
				continue
			case <-a.ctx.Done():
				a.kill(fmt.Errorf("%w: actor %q: runtime shut down", ErrActorDied, a.class))
				continue
			}
		}
		for i, c := range batch {
			if !a.invoke(c) {
				a.requeueFront(batch[i+1:])
				break
			}
		}
	}
	a.drainDead()
}

// serveConcurrently runs maxConcurrency workers that each take the oldest
// queued call, so a call costs one hand-off and no goroutine start.
func (a *actor) serveConcurrently() {
	stop := context.AfterFunc(a.ctx, func() {
		a.kill(fmt.Errorf("%w: actor %q: runtime shut down", ErrActorDied, a.class))
	})
	defer stop()
	var wg sync.WaitGroup
	for range a.opts.maxConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				a.mu.Lock()
				for len(a.queue) == 0 && a.state != actorDead {
					a.cond.Wait()
				}
				if a.state == actorDead {
					a.mu.Unlock()
					return
				}
				c := a.queue[0]
				a.queue[0] = nil
				a.queue = a.queue[1:]
				a.mu.Unlock()
				a.invoke(c)
			}
		}()
	}
	wg.Wait()
}

// requeueFront puts calls back at the head of the mailbox, in order.
func (a *actor) requeueFront(calls []*actorCall) {
	if len(calls) == 0 {
		return
	}
	a.mu.Lock()
	a.queue = append(append([]*actorCall(nil), calls...), a.queue...)
	a.cond.Broadcast()
	a.mu.Unlock()
}

// invoke runs one call. It reports false when the actor crashed and the
// rest of the batch must go back to the mailbox (to meet a restarted
// instance, or to fail as dead).
func (a *actor) invoke(c *actorCall) bool {
	a.mu.Lock()
	inst, state := a.inst, a.state
	a.mu.Unlock()
	if state == actorDead {
		a.failCall(c)
		return false
	}
	ctx := a.ctx
	if c.w != nil {
		if c.w.caller.Err() != nil { // its watch may not have run yet
			c.callerEnded()
		}
		if !c.w.state.CompareAndSwap(callQueued, callRunning) {
			c.release()
			return true // its caller gave up while it was queued; already failed
		}
		ctx = c.w.ctx
	}
	c.attempt++
	v, err, panicked, stack := callSafely(actorContext{ctx, a}, func(ctx context.Context) (any, error) { return c.fn(ctx, inst) })
	if !panicked {
		if cerr, ok := c.cancelled(); ok {
			c.out.complete(nil, cerr)
		} else if err != nil {
			c.out.complete(nil, &TaskError{Task: c.method, Attempts: c.attempt, Cause: err, kind: ErrTaskFailed})
		} else {
			a.rt.finish(c.out, v)
		}
		c.release()
		return true
	}
	crash := &TaskError{Task: c.method, Attempts: c.attempt, Panic: v, Stack: stack, kind: ErrActorDied}
	a.mu.Lock()
	if a.state == actorDead {
		a.mu.Unlock()
		c.out.complete(nil, crash)
		c.release()
		return false
	}
	if a.inst != inst { // another concurrent call already restarted it
		a.mu.Unlock()
	} else if a.opts.maxRestarts < 0 || a.restarts < a.opts.maxRestarts {
		a.restarts++
		n := a.restarts
		a.mu.Unlock()
		// Back off before the restart, as task retries do, so that an actor
		// that crashes on every call does not spin through constructors.
		if a.backoff(retryDelay(n)) {
			newInst, cerr := a.construct()
			a.mu.Lock()
			if cerr != nil {
				a.state, a.deathErr = actorDead, cerr
				a.cond.Broadcast()
			} else if a.state != actorDead {
				a.inst = newInst
			}
			a.mu.Unlock()
		}
	} else {
		a.state = actorDead
		a.deathErr = fmt.Errorf("%w: actor %q crashed %d time(s), more than MaxRestarts=%d allows; last crash: %w",
			ErrActorDied, a.class, a.restarts+1, a.opts.maxRestarts, crash)
		a.cond.Broadcast()
		a.mu.Unlock()
		a.cancel()
	}
	if cerr, ok := c.cancelled(); ok {
		c.out.complete(nil, cerr)
		c.release()
	} else if (a.opts.maxTaskRetries < 0 || c.attempt <= a.opts.maxTaskRetries) &&
		(c.w == nil || c.w.state.CompareAndSwap(callRunning, callQueued)) {
		a.requeueFront([]*actorCall{c})
	} else if cerr, ok := c.cancelled(); ok {
		c.out.complete(nil, cerr)
		c.release()
	} else {
		c.out.complete(nil, crash)
		c.release()
	}
	return false
}

// backoff waits d unless the actor is killed first; it reports whether the
// actor is still alive.
func (a *actor) backoff(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-a.ctx.Done():
		return false
	}
}

func (a *actor) failCall(c *actorCall) {
	a.mu.Lock()
	err := a.deathErr
	a.mu.Unlock()
	c.out.complete(nil, fmt.Errorf("call %q: %w", c.method, err))
	c.release()
}

// drainDead fails every call still in the mailbox of a dead actor.
func (a *actor) drainDead() {
	a.mu.Lock()
	q := a.queue
	a.queue = nil
	a.mu.Unlock()
	for _, c := range q {
		a.failCall(c)
	}
}

// kill marks the actor dead with err; its loop fails what is queued.
func (a *actor) kill(err error) {
	a.mu.Lock()
	if a.state != actorDead {
		a.state, a.deathErr = actorDead, err
	}
	a.cond.Broadcast()
	a.mu.Unlock()
	a.cancel()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// send queues a call; it fails at once if the actor is dead.
func (a *actor) send(c *actorCall) {
	a.mu.Lock()
	if a.state == actorDead {
		a.mu.Unlock()
		a.failCall(c)
		return
	}
	a.queue = append(a.queue, c)
	if a.opts.maxConcurrency > 1 {
		a.cond.Signal()
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// ActorHandle points to a live (or dead) actor of type T.
type ActorHandle[T any] struct {
	a *actor
}

// Name is the actor's name, empty if it has none.
func (h *ActorHandle[T]) Name() string { return h.a.name }

// Class is the actor class's registered name.
func (h *ActorHandle[T]) Class() string { return h.a.class }

// Ready waits until the actor's constructor has run and reports its error.
func (h *ActorHandle[T]) Ready(ctx context.Context) error {
	select {
	case <-h.a.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	if h.a.state == actorDead {
		return h.a.deathErr
	}
	return nil
}

// Restarts reports how many times the actor was restarted after a crash.
func (h *ActorHandle[T]) Restarts() int {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	return h.a.restarts
}

// GetActor finds a named actor of type T.
func GetActor[T any](ctx context.Context, name string) (*ActorHandle[T], error) {
	rt, _, err := runtimeFor(ctx)
	if err != nil {
		return nil, err
	}
	a := rt.actors.lookup(name)
	if a == nil {
		return nil, fmt.Errorf("%w: no actor named %q", ErrNotRegistered, name)
	}
	if want := reflect.TypeFor[T](); a.typ != want {
		return nil, fmt.Errorf("%w: actor %q is a %v (class %q), not a %v", ErrInvalidInput, name, a.typ, a.class, want)
	}
	return &ActorHandle[T]{a: a}, nil
}

// Kill stops the actor: queued and future calls fail with ErrActorDied, a
// running call sees its context cancelled, and its name is freed.
func Kill[T any](h *ActorHandle[T]) error {
	if h == nil || h.a == nil {
		return fmt.Errorf("%w: nil actor handle", ErrInvalidInput)
	}
	h.a.kill(fmt.Errorf("%w: actor %q was killed", ErrActorDied, h.a.class))
	h.a.rt.actors.remove(h.a)
	return nil
}

// KillAndWait kills the actor and waits until its loop has exited: no call
// of it runs any more when it returns nil (a running call must return for
// that, so user code should watch its context).
func KillAndWait[T any](ctx context.Context, h *ActorHandle[T]) error {
	if err := Kill(h); err != nil {
		return err
	}
	select {
	case <-h.a.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callActor queues a method call and returns the ref to its result.
func callActor[T, R any](ctx context.Context, h *ActorHandle[T], method string, fn func(ctx context.Context, inst T) (R, error)) Ref[R] {
	if h == nil || h.a == nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("%w: call %q on a nil actor handle", ErrInvalidInput, method))
	}
	rt := h.a.rt
	if rt.closed.Load() {
		return failedRef[R](rt, fmt.Errorf("%w: call %q", ErrShutdown, method))
	}
	if err := ctx.Err(); err != nil {
		return failedRef[R](rt, err)
	}
	c := &actorCall{method: method, out: rt.store.newObject(), fn: func(ctx context.Context, inst any) (any, error) {
		return fn(ctx, inst.(T))
	}}
	ref := Ref[R]{h: newHandle(rt, c.out)}
	if ctx.Done() != nil {
		c.watchCaller(h.a, ctx)
	}
	h.a.send(c)
	return ref
}
