package core

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"
)

// backend is the seam between the package-level API and what runs the
// work: the operations Ray's core worker offers a driver. Every
// package-level call goes through one: calls that make something (a task,
// an actor, a Put, GetActor) through the backend of the caller's context
// (backendFor: the one the running task or actor belongs to, else the
// default one Init chose), calls on something that exists (Get, Wait,
// Release, Cancel, Kill, an actor method) through the backend that made
// it. The embedded *Runtime is its one implementation; a cluster backend
// (the driver side of a multi-process cluster) is not built yet, so Init
// refuses WithAddress.
//
// The interface is unexported while its arguments name the embedded
// runtime's types (handles, objects, actors): a second implementation
// lives in this package.
type backend interface {
	// submitTask submits a call of a remote function and returns the
	// handle of its first return; with c.returns it fills one handle per
	// return, with c.stream it starts a generator and returns nil. A
	// failure before the task starts is the error of the handles.
	submitTask(ctx context.Context, c taskCall) *refHandle
	// createActor starts an actor, or with GetIfExists finds the named
	// one; the actor returned counts one handle for the caller to make.
	createActor(ctx context.Context, c actorSpawn) (*actor, error)
	// callMethod queues a call of a method of c.a and returns the handle
	// of its result; with c.returns it fills one handle per return, with
	// c.stream it starts a generator method and returns nil.
	callMethod(ctx context.Context, c methodCall) *refHandle
	// put stores v, already checked (and in encode-all mode copied
	// through the codec) by Put, as the object id.
	put(ctx context.Context, id ObjectID, v any) (*refHandle, error)
	// getRef waits for h's value.
	getRef(ctx context.Context, h *refHandle) (any, error)
	// waitRefs waits until n of hs are complete, timeout passes (0:
	// never) or ctx ends, and reports which are complete.
	waitRefs(ctx context.Context, hs []*refHandle, n int, timeout time.Duration) ([]bool, error)
	// free drops h's reference now (Ref.Release).
	free(h *refHandle)
	// cancelRef stops the task or actor call that produces obj.
	cancelRef(obj *object, c cancelConfig) error
	// kill stops (or, with c.noRestart false, restarts) an actor.
	kill(a *actor, c killConfig) error
	// lookupActor finds a named actor in namespace ns ("" for the
	// backend's own); the actor returned counts one handle for the caller.
	lookupActor(ns, name string) (*actor, error)
	// resources reports the total and the free resources.
	resources() (total, available map[string]float64)
	// storeStats reports the object store's use.
	storeStats() StoreStats
	// shutdown stops the backend. With wait it returns once everything it
	// ran has returned; without (called from a task), it returns at once
	// and done closes once they have.
	shutdown(wait bool) (done <-chan struct{})
}

var _ backend = (*Runtime)(nil)

// taskCall is one call of a remote function as a backend receives it.
// On the by-name path (encode-all mode, and what a cluster worker runs)
// wire holds the call as an encoded corepb.TaskSpec (function name,
// arguments encoded inline, options, task ID, number of returns) and the
// backend runs the registered function from it. On the embedded fast path
// wire is nil and run (or gen) is the typed closure the embedded backend
// runs without encoding, after the ref arguments in deps are ready.
type taskCall struct {
	spec   *spec
	parent *task // the task it is submitted from, when it runs in this process

	wire []byte // by name: the encoded corepb.TaskSpec

	run  func(ctx context.Context) (any, error)                 // fast path: one value, or one []any for several returns
	gen  func(ctx context.Context, yield func(any) error) error // fast path of a generator
	deps []*object                                              // fast path: the ref arguments to wait for

	id      TaskID       // the task's ID: its results are ReturnObjectID(id, 1..); nil: the backend gives it one
	returns []*refHandle // several returns: filled with one handle each
	stream  *stream      // a generator: started on it
}

// actorSpawn is an actor's creation as a backend receives it.
type actorSpawn struct {
	class string
	typ   reflect.Type
	opts  options
	ctor  func(context.Context) (any, error)
}

// methodCall is an actor method call as a backend receives it: by name
// (wire, an encoded corepb.TaskSpec naming the method), or the typed
// closure fn of the fast path, run once the ref arguments in deps are
// ready.
type methodCall struct {
	a      *actor
	method string
	wire   []byte
	fn     func(ctx context.Context, inst any) (any, error)
	deps   []*object
	id     TaskID // the call's ID (its result is ReturnObjectID(id, 1)); nil: the backend gives it one

	returns []*refHandle // several returns (fn gives one []any): filled with one handle each
	stream  *stream      // a generator method: started on it (fn yields through it)
}

// ErrNotImplemented: what was asked for is part of goray's design but not
// built yet.
var ErrNotImplemented = fmt.Errorf("not implemented")

// WithAddress connects to the goray cluster at addr ("host:port")
// instead of starting an embedded runtime, as ray.init(address=...) does;
// GORAY_ADDRESS in the environment does the same for every Init and for
// the runtime the first remote call starts. The cluster backend is not
// built yet: Init with an address returns an error wrapping
// ErrNotImplemented, never an embedded runtime in its place.
func WithAddress(addr string) InitOption { return func(c *initConfig) { c.address = addr } }

// startBackend starts the backend opts choose: a cluster backend for an
// address (WithAddress, else GORAY_ADDRESS), else an embedded runtime.
func startBackend(opts ...InitOption) (*Runtime, error) {
	var cfg initConfig
	for _, o := range opts {
		o(&cfg)
	}
	addr, from := cfg.address, "WithAddress"
	if addr == "" {
		addr, from = os.Getenv("GORAY_ADDRESS"), "GORAY_ADDRESS"
	}
	if addr != "" {
		return nil, fmt.Errorf("%w: cluster backend at %q (%s) is not built yet; omit WithAddress and unset GORAY_ADDRESS to run embedded",
			ErrNotImplemented, addr, from)
	}
	return newRuntime(opts...)
}

// backendFor returns the backend a call made with ctx goes to (the one
// the task or actor running it belongs to, else the default one) and the
// task whose context ctx is, if any.
func backendFor(ctx context.Context) (backend, *task, error) {
	rt, parent, err := runtimeFor(ctx)
	if err != nil {
		return nil, parent, err
	}
	return rt.front, parent, nil
}

// callerFor is backendFor plus the submitter whose counters name what the
// call makes: the task's, the actor's or the driver's.
func callerFor(ctx context.Context) (backend, *task, submitter, error) {
	if t := taskFromContext(ctx); t != nil {
		if t.rt.closed.Load() {
			return nil, t, submitter{}, fmt.Errorf("%w: called from task %q while the runtime stops", ErrShutdown, t.name)
		}
		return t.rt.front, t, submitter{t.out.id.Task(), &t.n}, nil
	}
	if a, ok := ctx.Value(holderKey{}).(*actor); ok {
		if a.rt.closed.Load() {
			return nil, nil, submitter{}, fmt.Errorf("%w: called from actor %q while the runtime stops", ErrShutdown, a.class)
		}
		return a.rt.front, nil, submitter{ActorCreationTaskID(a.id), &a.n}, nil
	}
	rt, err := current()
	if err != nil {
		return nil, nil, submitter{}, err
	}
	return rt.front, nil, rt.driverSub(), nil
}

// The embedded backend.

func (rt *Runtime) submitTask(ctx context.Context, c taskCall) *refHandle {
	n := 1
	if c.returns != nil {
		n = len(c.returns)
	}
	if c.id.IsNil() {
		c.id = rt.submitterFor(ctx, c.parent).nextTaskID()
	}
	if err := rt.prepare(ctx, c.spec, n); err != nil {
		return rt.failCall(c, err)
	}
	if c.wire != nil {
		rt.runFromWire(&c)
	}
	switch {
	case c.stream != nil:
		rt.startGen(ctx, c)
		return nil
	case c.returns != nil:
		rt.startN(ctx, c)
		return c.returns[0]
	}
	t, live := rt.newTask(c.spec, c.id, 1, c.deps, c.run)
	h := newHandle(rt, t.out)
	rt.start(ctx, c.parent, t, live)
	return h
}

// failCall gives a call's handles (or generator) err.
func (rt *Runtime) failCall(c taskCall, err error) *refHandle {
	switch {
	case c.stream != nil:
		c.stream.rt, c.stream.done, c.stream.err = rt, true, err
		return nil
	case c.returns != nil:
		for i := range c.returns {
			c.returns[i] = failedObject(rt, ReturnObjectID(c.id, uint32(i+1)), err)
		}
		return c.returns[0]
	}
	return failedObject(rt, ReturnObjectID(c.id, 1), err)
}

// runFromWire sets c's code to the worker side of the by-name path: decode
// the spec, find the registration it names, run it on the decoded
// arguments and send its results back through the codec.
func (rt *Runtime) runFromWire(c *taskCall) {
	wire, name := c.wire, c.spec.name
	switch {
	case c.stream != nil:
		c.gen = func(ctx context.Context, yield func(any) error) error { return execGen(ctx, name, wire, yield) }
	case c.returns != nil:
		c.run = func(ctx context.Context) (any, error) { return execFuncN(ctx, name, wire) }
	default:
		c.run = func(ctx context.Context) (any, error) { return execFunc(ctx, name, wire) }
	}
}

func (rt *Runtime) createActor(ctx context.Context, c actorSpawn) (*actor, error) {
	return rt.spawn(ctx, c.class, c.typ, c.opts, c.ctor)
}

func (rt *Runtime) callMethod(ctx context.Context, c methodCall) *refHandle {
	fail := func(err error) *refHandle {
		switch {
		case c.stream != nil:
			c.stream.rt, c.stream.done, c.stream.err = rt, true, err
			return nil
		case c.returns != nil:
			failHandles(rt, c.returns, err)
			return c.returns[0]
		}
		return failedRef[any](rt, err).h
	}
	if rt.closed.Load() {
		return fail(fmt.Errorf("%w: call %q", ErrShutdown, c.method))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	fn := c.fn
	if c.wire != nil {
		mc, wire := lookupMethod(c.method), c.wire
		if mc == nil {
			return fail(fmt.Errorf("%w: no actor method named %q", ErrNotRegistered, c.method))
		}
		fn = func(ctx context.Context, inst any) (any, error) { return execMethod(ctx, inst, mc, wire) }
	}
	if c.id.IsNil() {
		c.id = rt.submitterFor(ctx, taskFromContext(ctx)).nextActorTaskID(c.a.id)
	}
	outID := ReturnObjectID(c.id, 1)
	if c.stream != nil {
		outID = ReturnObjectID(c.id, 0) // a generator's values are its returns 1, 2, ...
	}
	call := &actorCall{a: c.a, method: c.method, out: rt.store.newObject(outID), fn: fn}
	call.out.call = call
	var h *refHandle
	switch {
	case c.stream != nil:
		st := c.stream
		st.rt, st.call, st.id = rt, call, c.id
		call.out.onDone(st.finishCall)
	case c.returns != nil:
		rest := make([]*object, len(c.returns)-1)
		for i := range c.returns {
			o := call.out
			if i > 0 {
				o = rt.store.newObject(ReturnObjectID(c.id, uint32(i+1)))
				o.call = call
				rest[i-1] = o
			}
			c.returns[i] = newHandle(rt, o)
		}
		call.extra().rest = rest // call is not shared yet
		h = c.returns[0]
	default:
		h = newHandle(rt, call.out)
	}
	if ctx.Done() != nil {
		c.a.watchCaller(call, ctx)
	}
	c.a.submit(ctx, call, c.deps)
	return h
}

func (rt *Runtime) put(ctx context.Context, id ObjectID, v any) (*refHandle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rt.closed.Load() {
		return nil, fmt.Errorf("%w: cannot put a %T", ErrShutdown, v)
	}
	obj, err := rt.store.put(v, id)
	if err != nil {
		return nil, err
	}
	return newHandle(rt, obj), nil
}

func (rt *Runtime) getRef(ctx context.Context, h *refHandle) (any, error) {
	return h.rt.wait(ctx, h.obj)
}

func (rt *Runtime) free(h *refHandle) {
	h.cleanup.Stop()
	h.rt.store.decRef(h.obj)
}

func (rt *Runtime) cancelRef(obj *object, c cancelConfig) error {
	obj.mu.Lock()
	t, call := obj.producer, obj.call
	obj.mu.Unlock()
	if call != nil {
		return cancelActorCall(call, c)
	}
	if t != nil {
		t.rt.cancelTask(t, c)
	}
	return nil
}

func (rt *Runtime) lookupActor(ns, name string) (*actor, error) {
	if ns == "" {
		ns = rt.cfg.namespace
	}
	a := rt.actors.get(ns, name)
	if a == nil {
		return nil, fmt.Errorf("%w: no actor named %q in namespace %q", ErrNotRegistered, name, ns)
	}
	return a, nil
}

func (rt *Runtime) resources() (total, available map[string]float64) {
	return rt.sched.Total(), rt.sched.Available()
}

func (rt *Runtime) storeStats() StoreStats { return rt.store.Stats() }

func (rt *Runtime) shutdown(wait bool) <-chan struct{} {
	if wait {
		rt.stop()
	} else if rt.beginShutdown() {
		go rt.finishShutdown()
	}
	return rt.down
}
