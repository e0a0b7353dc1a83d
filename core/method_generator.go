package core

import (
	"context"
	"fmt"
	"reflect"
	"runtime"

	"github.com/goray/goray/core/corepb"
)

// Generator methods. A method registered with GenMethodA is an actor's
// streaming generator (Ray's num_returns="streaming" on an actor method):
// its call yields values one at a time and the caller reads their refs
// from a *Generator as they come, exactly as for a Gen task. The call
// holds its place on the actor like any call: on a one-at-a-time actor
// the next call starts once the generator returned. Backpressure is set
// per handle with WithBackpressure (Ray's
// method.options(_generator_backpressure_num_objects=n)). Kill fails the
// stream with ErrActorDied after the values yielded before it; Cancel,
// leaving the All loop early, the caller's ctx ending or the Generator
// being collected unread cancel the call.

// callActorGen submits a generator method call; run yields its values.
// A limit above 0 bounds the values yielded and not yet taken.
func callActorGen[T, V any](ctx context.Context, h *ActorHandle[T], method string, limit int, deps []*object, run func(ctx context.Context, inst T, yield func(any) error) error) *Generator[V] {
	if h == nil || h.a == nil {
		rt, _ := current()
		return failedGen[V](rt, method, fmt.Errorf("%w: call %q on a nil actor handle", ErrInvalidInput, method))
	}
	st := &stream{name: method, limit: limit}
	h.a.rt.front.callMethod(ctx, methodCall{a: h.a, method: method, deps: deps, stream: st,
		fn: func(ctx context.Context, inst any) (any, error) {
			st.begin()
			return nil, run(ctx, inst.(T), func(v any) error { return st.yieldCall(ctx, v) })
		}})
	g := &Generator[V]{s: st}
	if st.call != nil {
		runtime.AddCleanup(g, (*stream).stop, st)
	}
	return g
}

// yieldCall is a generator method's yield: once its call was cancelled,
// or its actor's incarnation ended (Kill), it fails instead of storing v.
// ctx is the call's.
func (s *stream) yieldCall(ctx context.Context, v any) error {
	c := s.call
	c.mu.Lock()
	err := c.cancelled()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: generator %q: its actor %q is no longer running it", ErrActorDied, s.name, c.a.class)
	}
	return s.yield(ctx, v)
}

// finishCall records the end of a generator method call.
func (s *stream) finishCall() {
	_, err := s.call.out.result()
	s.mu.Lock()
	s.done, s.err = true, err
	s.signalLocked()
	s.mu.Unlock()
}

// backpressureErr is the error of a negative WithBackpressure.
func backpressureErr(method string, n int) error {
	return fmt.Errorf("%w: generator method %q: WithBackpressure(%d): must be >= 0", ErrInvalidInput, method, n)
}

// registerActorGenMethod registers a generator method: each value it
// yields is of type elem. Called as a plain method (by a cluster worker
// that does not stream), it gives every value as one []any.
func registerActorGenMethod(name string, class reflect.Type, localOnly bool, args []reflect.Type, elem reflect.Type, gen func(context.Context, any, []any, func(any) error) error) {
	call := func(ctx context.Context, inst any, args []any) (any, error) {
		var out []any
		err := gen(ctx, inst, args, func(v any) error { out = append(out, v); return nil })
		return out, err
	}
	mc := &methodCode{signature: signature{"actor method", name, args, elem, localOnly}, class: class, call: call, gen: gen}
	mc.check()
	addMethodCode(mc)
}

// callGenByName queues a generator method call that runs from its wire
// form, each value crossing the codec on its way back.
func callGenByName[T, V any](ctx context.Context, h *ActorHandle[T], method string, limit int, args []any) (gen *Generator[V]) {
	mc := lookupMethod(method)
	if mc == nil || mc.gen == nil {
		rt, _ := current()
		return failedGen[V](rt, method, fmt.Errorf("%w: no generator method named %q", ErrNotRegistered, method))
	}
	ts := &corepb.TaskSpec{MethodName: method}
	if h != nil && h.a != nil {
		ts.ActorClass = h.a.class
	}
	wire, pins, err := wireSpec(ts, mc.args, args, nil)
	if err != nil {
		rt, _ := current()
		return failedGen[V](rt, method, fmt.Errorf("call %q: %w", method, err))
	}
	gen = callActorGen[T, V](ctx, h, method, limit, nil, func(ctx context.Context, inst T, yield func(any) error) error {
		return runGenByName(ctx, inst, mc, wire, yield)
	})
	// The arguments' objects stay pinned until the call is over.
	if c := gen.s.call; c != nil {
		pins.releaseWith(c.out)
	} else {
		pins.release()
	}
	return gen
}

// genMethodByName runs a generator method call from the wire form of
// arguments known only now (RemoteArgs, once its refs are ready).
func genMethodByName(ctx context.Context, inst any, method string, args []any, yield func(any) error) error {
	mc := lookupMethod(method)
	if mc == nil || mc.gen == nil {
		return fmt.Errorf("%w: no generator method named %q", ErrNotRegistered, method)
	}
	wire, pins, err := wireSpec(&corepb.TaskSpec{MethodName: method}, mc.args, args, nil)
	if err != nil {
		return fmt.Errorf("call %q: %w", method, err)
	}
	defer pins.release()
	return runGenByName(ctx, inst, mc, wire, yield)
}

// runGenByName is the worker side of a generator method call: it decodes
// the call, runs the method and sends each value through the codec.
func runGenByName(ctx context.Context, inst any, mc *methodCode, wire []byte, yield func(any) error) error {
	ts, args, err := readSpec(wire, mc.args)
	if err != nil {
		return fmt.Errorf("call %q: %w", mc.name, err)
	}
	worker := lookupMethod(ts.GetMethodName())
	if worker == nil || worker.gen == nil {
		return fmt.Errorf("%w: no generator method named %q", ErrNotRegistered, ts.GetMethodName())
	}
	return remoteErr(worker.gen(ctx, inst, args, func(v any) error {
		x, err := roundTrip(worker.result, v)
		if err != nil {
			return err
		}
		return yield(x)
	}))
}
