package core

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type actorDirectory struct {
	mu     sync.Mutex
	closed bool
	byName map[actorName]*actor
	all    map[*actor]struct{}
	ns     string // the runtime's namespace
}

// actorName is a named actor's key: one name per namespace.
type actorName struct{ ns, name string }

func newActorDirectory(ns string) *actorDirectory {
	return &actorDirectory{byName: map[actorName]*actor{}, all: map[*actor]struct{}{}, ns: ns}
}

// Names lists the named actors alive now in the runtime's namespace.
func (d *actorDirectory) Names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for k := range d.byName {
		if k.ns == d.ns {
			out = append(out, k.name)
		}
	}
	return out
}

// add registers a and counts its loop in the runtime's wait group; after
// shutdown began (killAll took this lock) it refuses. A name already taken
// in a's namespace is an error, unless a asks for GetIfExists: then the
// live actor of that name is returned (one more handle counted) and a is
// not registered. Both happen under one lock, so of many concurrent
// creations one starts and the others get it.
func (d *actorDirectory) add(a *actor) (existing *actor, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("%w: cannot start actor %q", ErrShutdown, a.class)
	}
	if a.name != "" {
		k := actorName{a.namespace, a.name}
		if old := d.byName[k]; old != nil {
			if !a.opts.actor.getIfExists {
				return nil, fmt.Errorf("%w: an actor named %q already exists in namespace %q", ErrInvalidInput, a.name, a.namespace)
			}
			if old.typ != a.typ {
				return nil, fmt.Errorf("%w: GetIfExists: actor %q in namespace %q is a %v (class %q), not a %v", ErrInvalidInput, a.name, a.namespace, old.typ, old.class, a.typ)
			}
			if old.addHandle() {
				return old, nil
			}
			// It is dying; its name is free.
		}
		d.byName[k] = a
	}
	d.all[a] = struct{}{}
	a.rt.wg.Add(1)
	return nil, nil
}

// get finds the live actor named name in namespace ns, counting one more
// handle to it.
func (d *actorDirectory) get(ns, name string) *actor {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.byName[actorName{ns, name}]
	if a == nil || !a.addHandle() {
		return nil
	}
	return a
}

func (d *actorDirectory) remove(a *actor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := actorName{a.namespace, a.name}
	if a.name != "" && d.byName[k] == a {
		delete(d.byName, k)
	}
	delete(d.all, a)
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
	actorStarting = iota // placing, constructing or restarting
	actorAlive
	actorDead
)

// actor is one actor. Its loop (run) places it, constructs an instance and
// starts maxConcurrency workers that take calls from the mailbox; when the
// instance ends (a crash, or a Kill that asks for a restart) the loop
// constructs the next one, an incarnation, until the actor dies. Calls of
// an incarnation run under its context, which ends with it: a call that
// was running when its incarnation ended fails with ErrActorDied (or is
// retried, MaxTaskRetries).
type actor struct {
	rt        *Runtime
	id        ActorID    // NewActorID of the task or actor that created it and its index there
	n         idCounters // what its constructor and methods submitted and put (their parent: ActorCreationTaskID(id))
	class     string
	name      string
	namespace string // of its name
	typ       reflect.Type
	opts      options

	ctx     context.Context // the actor's life; cancelled when it dies
	cancel  context.CancelFunc
	ready   chan struct{} // closed once the actor is first alive, or dead
	stopped chan struct{} // closed once its loop and every call of it returned
	workers sync.WaitGroup

	blocked atomic.Int32 // calls blocked in Get that gave the CPUs back

	mu           sync.Mutex
	work         sync.Cond                              // on mu: wakes workers (a call queued, the incarnation ended)
	life         sync.Cond                              // on mu: wakes the loop (the incarnation ended, the actor died)
	ctor         func(ctx context.Context) (any, error) // nil once dead
	queue        []*actorCall
	state        int
	gen          int                // the incarnation, counted from 0
	genCtx       context.Context    // the incarnation's context
	genStop      context.CancelFunc // ends genCtx
	genEnd       error              // why the last incarnation ended
	restartDelay time.Duration      // the backoff before the next incarnation
	inst         any                // the instance while alive, else nil
	deathErr     error
	restarts     int
	readyClosed  bool
	// pending holds, per submitter, the calls not in the mailbox yet: each
	// waits for its ref arguments, or, on an ordered actor, for an earlier
	// call of the same submitter to enter first.
	pending map[any][]*actorCall
	// Lifetime (see handleLife): the handles reachable, and whether all of
	// them went. An orphan dies once its outstanding calls are done.
	handles int
	owner   *actor              // the actor whose incarnation created it; nil if detached
	owned   map[*actor]struct{} // the actors the current incarnation created
	reap    []*actor            // owned actors of ended incarnations, to kill (reapOwned)

	liveGen     atomic.Int64 // the incarnation while alive, else -1
	outstanding atomic.Int64 // calls submitted and not complete
	orphan      atomic.Bool  // every handle went; set under mu
}

// actorCall is one method call: waiting for its arguments, queued in the
// mailbox, running, or done. What only some calls need lives in x, made on
// first use, so a plain call stays small.
type actorCall struct {
	a       *actor
	method  string
	fn      func(ctx context.Context, inst any) (any, error)
	out     *object
	key     any             // its submitter's queue in a.pending, while it is there; guarded by a.mu
	deps    []*object       // ref arguments by position (nil: a value); set before it is submitted
	parent  context.Context // the incarnation's context, while it runs
	attempt int
	waiting atomic.Int32 // ref arguments not ready yet
	ready   bool         // its arguments are ready; guarded by a.mu
	counted bool         // counted in a.outstanding; set before it is queued

	mu        sync.Mutex
	state     int32 // callQueued, callRunning, callDone
	completed bool
	x         *callExtra
}

// callExtra is the rarely used part of a call; guarded by its mu.
type callExtra struct {
	caller    context.Context // the context it was called with, if it can end
	stop      func() bool     // ends the watch on caller
	depStops  []func()        // drop its callbacks on the ref arguments
	cancelErr error           // set once the call was cancelled
	ctx       context.Context // the running attempt's cancellable context, made on demand
	stopCtx   context.CancelFunc
	rest      []*object // the results after the first of a call with several (MethodAxB)
}

// extra returns c.x, making it. Caller holds c.mu.
func (c *actorCall) extra() *callExtra {
	if c.x == nil {
		c.x = &callExtra{}
	}
	return c.x
}

// cancelled is the call's cancellation error, if any. Caller holds c.mu.
func (c *actorCall) cancelled() error {
	if c.x == nil {
		return nil
	}
	return c.x.cancelErr
}

const (
	callQueued int32 = iota
	callRunning
	callDone
)

// callContext is the context a call's code runs with (the call itself):
// the incarnation's context, plus the actor as a resource holder (a call
// blocked in Get gives the actor's CPUs back), plus the call's own
// cancellation. Like a task's context it makes its cancellable context
// only when code asks for Done or Err, so a call that never looks costs no
// context.WithCancel.
type callContext actorCall

func (x *callContext) call() *actorCall            { return (*actorCall)(x) }
func (x *callContext) Deadline() (time.Time, bool) { return x.parent.Deadline() }
func (x *callContext) Done() <-chan struct{}       { return x.call().context().Done() }
func (x *callContext) Err() error                  { return x.call().context().Err() }

func (x *callContext) Value(key any) any {
	switch key {
	case holderKey{}:
		return x.a
	case incarnationKey{}:
		return x.parent
	}
	c := x.call()
	c.mu.Lock()
	var ctx context.Context
	if c.x != nil {
		ctx = c.x.ctx
	}
	c.mu.Unlock()
	if ctx != nil {
		return ctx.Value(key)
	}
	return x.parent.Value(key)
}

// context returns the running attempt's cancellable context, made on first use.
func (c *actorCall) context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.extra()
	if x.ctx == nil {
		x.ctx, x.stopCtx = context.WithCancel(c.parent)
		if x.cancelErr != nil {
			x.stopCtx()
		}
	}
	return x.ctx
}

// start moves a queued call to running; it reports false for a call that
// was cancelled meanwhile (and is complete already).
func (c *actorCall) start() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != callQueued {
		return false
	}
	if x := c.x; x != nil && x.caller != nil && x.caller.Err() != nil && x.cancelErr == nil { // its watch may not have run yet
		x.cancelErr = callerErr(c.method, x.caller)
	}
	if c.cancelled() != nil {
		c.state = callDone
		return false
	}
	c.state = callRunning
	return true
}

// endAttempt drops the attempt's context and reports the cancellation, if any.
func (c *actorCall) endAttempt() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.x
	if x == nil {
		return nil
	}
	if x.stopCtx != nil {
		x.stopCtx()
	}
	x.ctx, x.stopCtx = nil, nil
	return x.cancelErr
}

// requeue moves a running call back to queued for another attempt; it
// reports false if the call was cancelled meanwhile.
func (c *actorCall) requeue() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelled() != nil {
		return false
	}
	c.state = callQueued
	return true
}

// complete stores the call's outcome (only the first time), ends the
// watch on its caller and drops its callbacks on its ref arguments (a
// finished call must not stay reachable from an argument still being
// computed).
func (c *actorCall) complete(rt *Runtime, v any, err error) {
	c.mu.Lock()
	c.state = callDone
	first := !c.completed
	c.completed = true
	var stop func() bool
	var deps []func()
	var rest []*object
	if x := c.x; x != nil {
		stop, deps, rest = x.stop, x.depStops, x.rest
		x.stop, x.depStops, x.rest = nil, nil, nil
	}
	c.mu.Unlock()
	if !first {
		return
	}
	c.finishResults(rt, rest, v, err)
	if stop != nil {
		stop()
	}
	for _, d := range deps {
		d()
	}
	if c.counted && c.a.outstanding.Add(-1) == 0 {
		c.a.retireIfOrphan()
	}
}

// addDepStop records how to drop a callback on an argument; once the call
// is done it drops it at once.
func (c *actorCall) addDepStop(stop func()) {
	c.mu.Lock()
	if c.state != callDone {
		x := c.extra()
		x.depStops = append(x.depStops, stop)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	stop()
}

func callerErr(method string, caller context.Context) error {
	return fmt.Errorf("%w: call %q: the context it was called with ended: %w", ErrTaskCancelled, method, context.Cause(caller))
}

// cancelCall cancels c with err: a queued call leaves the mailbox and fails
// at once and never runs; a running one sees its context cancelled and
// fails with err once it returns.
func (a *actor) cancelCall(c *actorCall, err error) {
	c.mu.Lock()
	if c.state == callDone || c.cancelled() != nil {
		c.mu.Unlock()
		return
	}
	x := c.extra()
	x.cancelErr = err
	switch c.state {
	case callQueued:
		c.state = callDone
		c.mu.Unlock()
		a.mu.Lock()
		if i := slices.Index(a.queue, c); i >= 0 {
			a.queue = slices.Delete(a.queue, i, i+1)
		} else if c.key != nil {
			a.flushLocked(c.key) // it may hold back later calls of its submitter
		}
		a.mu.Unlock()
		c.complete(a.rt, nil, err)
	case callRunning:
		if x.stopCtx != nil {
			x.stopCtx()
		}
		c.mu.Unlock()
	}
}

// cancelActorCall is Cancel for a ref an actor call fills.
func cancelActorCall(c *actorCall, cfg cancelConfig) error {
	if cfg.force {
		return fmt.Errorf("%w: Cancel with Force on actor call %q: an actor call cannot be abandoned (its actor's state would be left half-changed); cancel without Force, or Kill the actor", ErrInvalidInput, c.method)
	}
	c.a.cancelCall(c, fmt.Errorf("%w: call %q", ErrTaskCancelled, c.method))
	return nil
}

// watchCaller makes the end of caller's context cancel the call. It runs
// before the call is sent.
func (a *actor) watchCaller(c *actorCall, caller context.Context) {
	c.mu.Lock()
	c.extra().caller = caller
	c.mu.Unlock()
	stop := context.AfterFunc(caller, func() { a.cancelCall(c, callerErr(c.method, caller)) })
	c.mu.Lock()
	if c.state == callDone {
		c.mu.Unlock()
		stop()
		return
	}
	c.x.stop = stop
	c.mu.Unlock()
}

// spawnActor starts an actor, or, with GetIfExists, finds the named one
// that exists. The actor it returns counts one handle more, for the
// caller to make (newActorHandle).
func spawnActor(ctx context.Context, class string, typ reflect.Type, opts options, ctor func(context.Context) (any, error)) (*actor, error) {
	b, _, err := backendFor(ctx)
	if err != nil {
		return nil, err
	}
	return b.createActor(ctx, actorSpawn{class: class, typ: typ, opts: opts, ctor: ctor})
}

// spawn is spawnActor in the embedded backend.
func (rt *Runtime) spawn(ctx context.Context, class string, typ reflect.Type, opts options, ctor func(context.Context) (any, error)) (*actor, error) {
	if opts.err != nil {
		return nil, fmt.Errorf("actor %q: %w", class, opts.err)
	}
	if opts.actor.getIfExists && opts.name == "" {
		return nil, fmt.Errorf("%w: actor %q: GetIfExists needs a Name", ErrInvalidInput, class)
	}
	place := placement(&opts)
	if err := rt.sched.feasible("actor", class, &place); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a := &actor{rt: rt, class: class, name: opts.name, namespace: namespaceOf(rt, &opts), typ: typ, opts: opts, ctor: ctor,
		ready: make(chan struct{}), stopped: make(chan struct{}), handles: 1}
	// Its creation counts as one of the creator's submissions, as in Ray.
	a.id = rt.submitterFor(ctx, taskFromContext(ctx)).nextActorID(rt.store.refs.job)
	a.work.L, a.life.L = &a.mu, &a.mu
	a.ctx, a.cancel = context.WithCancel(rt.ctx)
	a.genCtx, a.genStop = context.WithCancel(a.ctx)
	a.liveGen.Store(-1)
	// As in Ray, an actor is owned by the actor (the incarnation) that
	// created it and dies with it, unless it is detached.
	var ownerGen context.Context
	if !opts.actor.detached {
		if g, ok := ctx.Value(incarnationKey{}).(context.Context); ok {
			a.owner, ownerGen = ctx.Value(holderKey{}).(*actor), g
		}
	}
	existing, err := rt.actors.add(a)
	if err != nil {
		a.cancel()
		return nil, err
	}
	if existing != nil {
		a.cancel()
		return existing, nil
	}
	go a.run()
	if a.owner != nil {
		a.owner.adopt(a, ownerGen)
	}
	return a, nil
}

// adopt records child as created by incarnation gen (its context) of a:
// the child dies when that incarnation ends, at once if it has already.
func (a *actor) adopt(child *actor, gen context.Context) {
	a.mu.Lock()
	if gen.Err() != nil { // cancelled under a.mu when the incarnation ended
		a.mu.Unlock()
		child.die(ownerDied(child))
		return
	}
	if a.owned == nil {
		a.owned = map[*actor]struct{}{}
	}
	a.owned[child] = struct{}{}
	a.mu.Unlock()
}

// disown forgets a child that died.
func (a *actor) disown(child *actor) {
	a.mu.Lock()
	delete(a.owned, child)
	a.mu.Unlock()
}

// reapOwned kills the actors that ended incarnations created. Whoever
// ends an incarnation (newGenLocked, dieLocked) calls it after unlocking.
func (a *actor) reapOwned() {
	a.mu.Lock()
	r := a.reap
	a.reap = nil
	a.mu.Unlock()
	for _, c := range r {
		c.die(ownerDied(c))
	}
}

func ownerDied(a *actor) error {
	return fmt.Errorf("%w: actor %q: the actor that created it died", ErrActorDied, a.class)
}

// actorContext is the context a constructor runs with: the incarnation's
// context plus the actor as a resource holder.
type actorContext struct {
	context.Context
	a *actor
}

func (c actorContext) Value(key any) any {
	switch key {
	case holderKey{}:
		return c.a
	case incarnationKey{}:
		return c.Context
	}
	return c.Context.Value(key)
}

// incarnationKey finds, in an actor's context, the context of the
// incarnation running the code: the actors it creates die with it.
type incarnationKey struct{}

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

// construct runs the constructor once. crashed reports a panic, which,
// like a Ray actor process dying in its constructor, counts as a crash:
// the actor is restarted within MaxRestarts. A returned error is an
// application error, as an exception raised in a Ray actor's __init__ is:
// the actor dies with it, unless it is of a kind RetryOn lists.
func (a *actor) construct(ctx context.Context, ctor func(context.Context) (any, error)) (inst any, err error, crashed bool) {
	v, err, panicked, stack := callSafely(actorContext{ctx, a}, ctor)
	if panicked {
		a.mu.Lock()
		attempt := a.restarts + 1
		a.mu.Unlock()
		return nil, &TaskError{Task: a.class + " constructor", Attempts: attempt, Panic: v, Stack: stack, kind: ErrActorDied}, true
	}
	if err != nil {
		return nil, fmt.Errorf("%w: actor %q constructor: %w", ErrActorDied, a.class, err), a.opts.retriesErr(err)
	}
	return v, nil, false
}

// placement is what placing an actor takes, as in Ray: its resources, and
// one CPU when it asks for none explicitly (a default actor needs a free
// CPU to be placed, and holds none while it runs).
func placement(o *options) resources {
	p := o.res.clone()
	if !o.cpuSet {
		p.cpu = 1
	}
	return p
}

func (a *actor) run() {
	defer a.rt.wg.Done()
	defer close(a.stopped)
	place := placement(&a.opts)
	if !a.rt.sched.acquire(a.ctx.Done(), &place) {
		a.die(fmt.Errorf("%w: actor %q stopped before it started", ErrActorDied, a.class))
		return
	}
	if extra := place.cpu - a.opts.res.cpu; extra > 0 {
		a.rt.sched.giveBack(&resources{cpu: extra})
	}
	defer a.rt.sched.giveBack(&a.opts.res)
	defer a.workers.Wait() // calls still running hold the resources
	a.live()
	a.die(fmt.Errorf("%w: actor %q: runtime shut down", ErrActorDied, a.class))
}

// live constructs incarnations and serves each until the actor dies.
func (a *actor) live() {
	for {
		a.mu.Lock()
		if a.state == actorDead {
			a.mu.Unlock()
			return
		}
		gen, ctx, ctor := a.gen, a.genCtx, a.ctor
		a.mu.Unlock()
		inst, err, crashed := a.construct(ctx, ctor)
		a.mu.Lock()
		if a.state == actorDead {
			a.mu.Unlock()
			return
		}
		if a.gen != gen { // a Kill asked for a restart meanwhile
			a.mu.Unlock()
			continue
		}
		if err != nil {
			var q []*actorCall
			if crashed {
				q = a.crashLocked(err)
			} else {
				q = a.dieLocked(err)
			}
			delay, dead := a.restartDelay, a.state == actorDead
			a.mu.Unlock()
			a.failAll(q)
			a.reapOwned()
			if dead || !a.backoff(delay) {
				return
			}
			continue
		}
		a.state, a.inst = actorAlive, inst
		a.liveGen.Store(int64(gen))
		a.markReadyLocked()
		a.workers.Add(a.opts.maxConcurrency)
		for range a.opts.maxConcurrency {
			go a.serve(gen, ctx, inst)
		}
		inst = nil
		for a.gen == gen && a.state != actorDead {
			a.life.Wait()
		}
		delay := a.restartDelay
		a.mu.Unlock()
		if delay > 0 && !a.backoff(delay) {
			return
		}
	}
}

// serve is one worker of incarnation gen: it runs queued calls, oldest
// first, until the incarnation ends. A call is always in one place: the
// mailbox, or the worker running it, so Kill finds every call not started.
func (a *actor) serve(gen int, ctx context.Context, inst any) {
	defer a.workers.Done()
	for {
		a.mu.Lock()
		for len(a.queue) == 0 && a.gen == gen && a.state == actorAlive {
			a.work.Wait()
		}
		if a.gen != gen || a.state != actorAlive {
			a.mu.Unlock()
			return
		}
		c := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		a.mu.Unlock()
		if live, retry := a.invoke(c, gen, ctx, inst); !live {
			if retry {
				a.requeueFront(c)
			}
			return
		}
	}
}

// invoke runs one call on incarnation gen. It reports live false when
// the incarnation ended, so the worker stops, and retry when the call is
// to run again on the next incarnation (the worker puts it back).
func (a *actor) invoke(c *actorCall, gen int, ctx context.Context, inst any) (live, retry bool) {
	if !c.start() {
		c.complete(a.rt, nil, c.endAttempt())
		return true, false
	}
	var v any
	var err error
	var panicked bool
	var stack string
	for {
		c.attempt++
		c.parent = ctx
		v, err, panicked, stack = callSafely((*callContext)(c), func(ctx context.Context) (any, error) { return c.fn(ctx, inst) })
		// A returned error of a kind RetryOn lists runs again on the same
		// instance, after the backoff retries take.
		if panicked || err == nil || !a.opts.retriesErr(err) || !a.retriesLeft(c) ||
			a.liveGen.Load() != int64(gen) || !a.pause(c, retryDelay(c.attempt)) {
			break
		}
		c.endAttempt()
	}
	cancelErr := c.endAttempt()
	if !panicked && a.liveGen.Load() == int64(gen) { // the incarnation lives on
		switch {
		case cancelErr != nil:
			c.complete(a.rt, nil, cancelErr)
		case err != nil:
			c.complete(a.rt, nil, &TaskError{Task: c.method, Attempts: c.attempt, Cause: err, kind: ErrTaskFailed})
		default:
			c.complete(a.rt, v, nil)
		}
		return true, false
	}
	var crash *TaskError
	if panicked {
		crash = &TaskError{Task: c.method, Attempts: c.attempt, Panic: v, Stack: stack, kind: ErrActorDied}
	}
	a.mu.Lock()
	ended := a.gen != gen || a.state != actorAlive
	var failed []*actorCall
	if crash != nil && !ended {
		failed = a.crashLocked(crash)
		ended = true
	}
	why := a.deathErr
	if a.state != actorDead {
		why = a.genEnd
	}
	dead := a.state == actorDead
	a.mu.Unlock()
	a.failAll(failed)
	a.reapOwned()

	switch {
	case cancelErr != nil:
		c.complete(a.rt, nil, cancelErr)
	case crash != nil || ended:
		if !dead && a.retriesLeft(c) && c.requeue() {
			return false, true
		}
		if crash != nil {
			c.complete(a.rt, nil, crash)
		} else if err := c.endAttempt(); err != nil {
			c.complete(a.rt, nil, err)
		} else {
			c.complete(a.rt, nil, fmt.Errorf("call %q: %w", c.method, why))
		}
	case err != nil:
		c.complete(a.rt, nil, &TaskError{Task: c.method, Attempts: c.attempt, Cause: err, kind: ErrTaskFailed})
	default:
		c.complete(a.rt, v, nil)
	}
	return !ended, false
}

// retriesLeft reports whether MaxTaskRetries allows another attempt of c.
func (a *actor) retriesLeft(c *actorCall) bool {
	return a.opts.maxTaskRetries < 0 || c.attempt <= a.opts.maxTaskRetries
}

// pause waits d before c's next attempt; it reports false if the call was
// cancelled or its incarnation ended meanwhile.
func (a *actor) pause(c *actorCall, d time.Duration) bool {
	done := c.context().Done()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-done:
		return false
	}
}

// crashLocked ends the incarnation after a crash (a panic in a call or in
// the constructor): the actor restarts if MaxRestarts allows, else it
// dies. It returns the calls to fail.
func (a *actor) crashLocked(crash error) []*actorCall {
	if a.opts.maxRestarts < 0 || a.restarts < a.opts.maxRestarts {
		a.restarts++
		// Back off before the restart, as task retries do, so that an actor
		// that crashes on every call does not spin through constructors.
		a.newGenLocked(crash, retryDelay(a.restarts))
		return nil
	}
	return a.dieLocked(fmt.Errorf("%w: actor %q crashed %d time(s), more than MaxRestarts=%d allows; last crash: %w",
		ErrActorDied, a.class, a.restarts+1, a.opts.maxRestarts, crash))
}

// newGenLocked ends the incarnation with cause and starts the next one
// after delay.
func (a *actor) newGenLocked(cause error, delay time.Duration) {
	// Calls of the ending incarnation read liveGen without the lock once
	// their context is cancelled: it must be stale before that.
	a.liveGen.Store(-1)
	a.genStop()
	a.reapLocked()
	a.gen++
	a.genEnd, a.restartDelay = cause, delay
	a.genCtx, a.genStop = context.WithCancel(a.ctx)
	a.state, a.inst = actorStarting, nil
	a.work.Broadcast()
	a.life.Broadcast()
}

// requeueFront puts calls back at the head of the mailbox, in order.
func (a *actor) requeueFront(calls ...*actorCall) {
	a.mu.Lock()
	if a.state == actorDead {
		a.mu.Unlock()
		a.failAll(calls)
		return
	}
	a.queue = slices.Insert(a.queue, 0, calls...)
	a.work.Broadcast()
	a.mu.Unlock()
}

// backoff waits d unless the actor dies first; it reports whether the
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

func (a *actor) markReadyLocked() {
	if !a.readyClosed {
		a.readyClosed = true
		close(a.ready)
	}
}

// reapLocked moves the actors the ending incarnation owns to a.reap.
func (a *actor) reapLocked() {
	for c := range a.owned {
		a.reap = append(a.reap, c)
	}
	a.owned = nil
}

// dieLocked marks the actor dead with err and drops its state: the
// instance, the constructor and its arguments, the mailbox (returned, for
// the caller to fail outside the lock). Running calls see their context
// cancelled and fail with ErrActorDied once they return.
func (a *actor) dieLocked(err error) []*actorCall {
	if a.state == actorDead {
		return nil
	}
	a.state, a.deathErr = actorDead, err
	a.liveGen.Store(-1)
	a.inst, a.ctor = nil, nil
	q := a.queue
	for _, p := range a.pending {
		q = append(q, p...)
	}
	a.queue, a.pending = nil, nil
	a.genStop()
	a.reapLocked()
	a.cancel()
	a.markReadyLocked()
	a.work.Broadcast()
	a.life.Broadcast()
	return q
}

// die kills the actor with err, fails what is queued and frees its name.
func (a *actor) die(err error) {
	a.mu.Lock()
	q := a.dieLocked(err)
	a.mu.Unlock()
	a.failAll(q)
	a.reapOwned()
	a.rt.actors.remove(a)
	if a.owner != nil {
		a.owner.disown(a)
	}
}

// failAll fails calls of the dead actor that are still queued with its
// death error (a running one fails once it returns).
func (a *actor) failAll(q []*actorCall) {
	if len(q) == 0 {
		return
	}
	a.mu.Lock()
	err := a.deathErr
	a.mu.Unlock()
	for _, c := range q {
		c.mu.Lock()
		queued := c.state == callQueued
		if queued {
			c.state = callDone
		}
		cerr := c.cancelled()
		c.mu.Unlock()
		switch {
		case !queued:
		case cerr != nil:
			c.complete(a.rt, nil, cerr)
		default:
			c.complete(a.rt, nil, fmt.Errorf("call %q: %w", c.method, err))
		}
	}
}

// kill marks the actor dead with err (shutdown).
func (a *actor) kill(err error) { a.die(err) }

// driverKey is the submitter of calls made outside any task or actor: the
// program itself, Ray's driver.
type driverKey struct{}

// submitterOf is who makes a call with ctx, for per-submitter ordering:
// the task or actor whose context it is, else the driver.
func submitterOf(ctx context.Context) any {
	if t := taskFromContext(ctx); t != nil {
		return t
	}
	if a, ok := ctx.Value(holderKey{}).(*actor); ok {
		return a
	}
	return driverKey{}
}

// ordered reports whether calls from one submitter run in the order they
// were made, as a Ray actor runs them: a one-at-a-time actor without
// AllowOutOfOrderExecution. A concurrent actor (Ray's threaded actor)
// keeps no order.
func (a *actor) ordered() bool { return a.opts.maxConcurrency == 1 && !a.opts.actor.outOfOrder }

// submit queues a call made with ctx whose ref arguments are deps (nil
// entries are values). A call with no pending argument goes to the
// mailbox at once, unless an earlier call of its submitter still waits
// (ordered actors); the others wait in a.pending until their arguments
// are ready. It fails at once if the actor is dead.
func (a *actor) submit(ctx context.Context, c *actorCall, deps []*object) {
	var live int32
	for _, d := range deps {
		if d != nil && !d.isDone() {
			live++
		}
	}
	a.mu.Lock()
	if a.state == actorDead {
		err := a.deathErr
		a.mu.Unlock()
		c.complete(a.rt, nil, fmt.Errorf("call %q: %w", c.method, err))
		return
	}
	c.counted = true
	a.outstanding.Add(1)
	if live == 0 && len(a.pending) == 0 {
		if err := argsError(c.method, deps); err != nil {
			a.mu.Unlock()
			c.complete(a.rt, nil, err)
			return
		}
		a.queue = append(a.queue, c)
		a.work.Signal()
		a.mu.Unlock()
		return
	}
	key := any(c)
	if a.ordered() {
		key = submitterOf(ctx)
	}
	if live == 0 && len(a.pending[key]) == 0 {
		if err := argsError(c.method, deps); err != nil {
			a.mu.Unlock()
			c.complete(a.rt, nil, err)
			return
		}
		a.queue = append(a.queue, c)
		a.work.Signal()
		a.mu.Unlock()
		return
	}
	if a.pending == nil {
		a.pending = map[any][]*actorCall{}
	}
	c.key, c.deps, c.ready = key, deps, live == 0
	a.pending[key] = append(a.pending[key], c)
	c.waiting.Store(live)
	a.mu.Unlock()
	if live == 0 {
		return
	}
	for _, d := range deps {
		if d == nil || d.isDone() {
			continue
		}
		c.addDepStop(d.onDone(func() {
			if c.waiting.Add(-1) == 0 {
				a.argsReady(c)
			}
		}))
	}
}

// argsError is the error of the first ref argument that failed, if any:
// the call then fails without running, as a Ray task whose argument
// failed does.
func argsError(method string, deps []*object) error {
	for i, d := range deps {
		if d == nil {
			continue
		}
		if _, err := d.result(); err != nil {
			return wrapRefErr(method, i, err)
		}
	}
	return nil
}

// argsReady runs once the last ref argument of c is ready.
func (a *actor) argsReady(c *actorCall) {
	if err := argsError(c.method, c.deps); err != nil {
		c.mu.Lock()
		queued := c.state == callQueued
		if queued {
			c.state = callDone
		}
		c.mu.Unlock()
		if queued {
			c.complete(a.rt, nil, err)
		}
	}
	a.mu.Lock()
	c.ready = true
	if c.key != nil {
		a.flushLocked(c.key)
	}
	a.mu.Unlock()
}

// flushLocked moves the calls of one submitter that are ready, from the
// head of its queue, to the mailbox; done (cancelled, failed) ones are
// dropped.
func (a *actor) flushLocked(key any) {
	q := a.pending[key]
	n := 0
	for ; n < len(q); n++ {
		c := q[n]
		c.mu.Lock()
		done := c.state == callDone
		c.mu.Unlock()
		if done {
			c.key = nil
			continue
		}
		if !c.ready {
			break
		}
		c.key = nil
		a.queue = append(a.queue, c)
		a.work.Signal()
	}
	if n == len(q) {
		delete(a.pending, key)
		return
	}
	clear(q[:n])
	a.pending[key] = q[n:]
}

// ActorHandle points to a live (or dead) actor of type T. Copies of a
// handle (of the pointer or of the struct) are one handle. As in Ray, an
// actor whose every handle is gone (unreachable, garbage collected) is
// stopped once its outstanding calls are done, and its resources go back;
// a Detached actor stays until it is killed or the runtime shuts down.
type ActorHandle[T any] struct {
	a    *actor
	life *handleLife
}

// handleLife is what a handle's reachability is watched on. Nothing in the
// runtime points to it (the directory and the mailbox point to the actor),
// so it is collected once the user's handles are.
type handleLife struct{ a *actor }

// newActorHandle makes a handle to a, which already counts it (spawnActor,
// actorDirectory.get).
func newActorHandle[T any](a *actor) *ActorHandle[T] {
	l := &handleLife{a: a}
	runtime.AddCleanup(l, func(a *actor) { a.dropHandle() }, a)
	return &ActorHandle[T]{a: a, life: l}
}

// addHandle counts one more handle; it reports false for a dead actor.
func (a *actor) addHandle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == actorDead {
		return false
	}
	a.handles++
	a.orphan.Store(false)
	return true
}

// dropHandle runs when a handle went: with none left, a non-detached
// actor is an orphan and stops once its outstanding calls are done.
func (a *actor) dropHandle() {
	a.mu.Lock()
	a.handles--
	if a.handles == 0 && !a.opts.actor.detached {
		a.orphan.Store(true)
	}
	a.mu.Unlock()
	a.retireIfOrphan()
}

// retireIfOrphan stops an orphan that has no outstanding call.
func (a *actor) retireIfOrphan() {
	if !a.orphan.Load() {
		return
	}
	a.mu.Lock()
	retire := a.orphan.Load() && a.handles == 0 && a.outstanding.Load() == 0 && a.state != actorDead
	a.mu.Unlock()
	if retire {
		a.die(fmt.Errorf("%w: actor %q: no handle to it is left", ErrActorDied, a.class))
	}
}

// Name is the actor's name, empty if it has none.
func (h *ActorHandle[T]) Name() string { return h.a.name }

// Class is the actor class's registered name.
func (h *ActorHandle[T]) Class() string { return h.a.class }

// Ready waits until the actor's constructor has run and reports its error.
func (h *ActorHandle[T]) Ready(ctx context.Context) error {
	select {
	case <-h.a.ready:
	default:
		// Called inside a task or actor, wait as Get does: with its CPUs
		// given back (the actor may need them to be placed).
		if hl := holderFromContext(ctx); hl != nil {
			hl.block()
			defer hl.unblock()
		}
		select {
		case <-h.a.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	if h.a.state == actorDead {
		return h.a.deathErr
	}
	return nil
}

// Restarts reports how many times the actor was restarted: after a crash
// (in a call or in its constructor) or a Kill with NoRestart(false).
func (h *ActorHandle[T]) Restarts() int {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	return h.a.restarts
}

// Namespace is the namespace of the actor's name.
func (h *ActorHandle[T]) Namespace() string { return h.a.namespace }

// GetActor finds a named actor of type T in the runtime's namespace, or in
// the one a Namespace option names (the only option it takes), as Ray's
// ray.get_actor(name, namespace=...) does.
func GetActor[T any](ctx context.Context, name string, opts ...GetActorOption) (*ActorHandle[T], error) {
	b, _, err := backendFor(ctx)
	if err != nil {
		return nil, err
	}
	var o options
	for _, f := range opts {
		f.getActorOpt(&o)
	}
	if o.err != nil {
		return nil, fmt.Errorf("GetActor %q: %w", name, o.err)
	}
	var ns string
	if o.actor.nsSet {
		ns = o.actor.namespace
	}
	a, err := b.lookupActor(ns, name)
	if err != nil {
		return nil, err
	}
	if want := reflect.TypeFor[T](); a.typ != want {
		a.dropHandle()
		return nil, fmt.Errorf("%w: actor %q is a %v (class %q), not a %v", ErrInvalidInput, name, a.typ, a.class, want)
	}
	return newActorHandle[T](a), nil
}

// Kill stops the actor, as Ray's ray.kill does: queued and future calls
// fail with ErrActorDied, and so does a call running now (its context is
// cancelled); the instance and what it holds are released and its name is
// freed. With NoRestart(false) an actor with restarts left is restarted
// instead.
func Kill[T any](h *ActorHandle[T], opts ...KillOption) error {
	if h == nil || h.a == nil {
		return fmt.Errorf("%w: nil actor handle", ErrInvalidInput)
	}
	c := killConfig{noRestart: true}
	for _, o := range opts {
		o(&c)
	}
	return h.a.rt.front.kill(h.a, c)
}

func (rt *Runtime) kill(a *actor, c killConfig) error {
	if !c.noRestart {
		a.mu.Lock()
		if a.state != actorDead && (a.opts.maxRestarts < 0 || a.restarts < a.opts.maxRestarts) {
			a.restarts++
			a.newGenLocked(fmt.Errorf("%w: actor %q was killed (and restarted)", ErrActorDied, a.class), 0)
			a.mu.Unlock()
			a.reapOwned()
			return nil
		}
		a.mu.Unlock()
	}
	a.die(fmt.Errorf("%w: actor %q was killed", ErrActorDied, a.class))
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

// callActor submits a method call whose ref arguments are deps and
// returns the ref to its result.
func callActor[T, R any](ctx context.Context, h *ActorHandle[T], method string, deps []*object, fn func(ctx context.Context, inst T) (R, error)) Ref[R] {
	if h == nil || h.a == nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("%w: call %q on a nil actor handle", ErrInvalidInput, method))
	}
	return Ref[R]{h: h.a.rt.front.callMethod(ctx, methodCall{a: h.a, method: method, deps: deps, fn: func(ctx context.Context, inst any) (any, error) {
		return fn(ctx, inst.(T))
	}})}
}
