package core

import (
	"context"
	"fmt"
	"reflect"

	"github.com/goray/goray/core/corepb"
)

// Actor methods with several returns. A method registered with MethodAxB
// (A arguments, B = 2 or 3 results) runs as one call whose results are
// separate objects, as a FuncAxB task's are (Ray's num_returns on an actor
// method): each ref is passed on, waited on and released on its own, and
// its ID is the call's TaskID with the return's index. An error fails
// every result; Cancel through any of them cancels the call.

// callActorN submits a method call with len(hs) results through the
// actor's backend and fills hs with their handles; fn returns the results
// as a []any of that length.
func callActorN[T any](ctx context.Context, h *ActorHandle[T], method string, deps []*object, hs []*refHandle, fn func(ctx context.Context, inst T) (any, error)) {
	if h == nil || h.a == nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("%w: call %q on a nil actor handle", ErrInvalidInput, method))
		return
	}
	h.a.rt.front.callMethod(ctx, methodCall{a: h.a, method: method, deps: deps, returns: hs,
		fn: func(ctx context.Context, inst any) (any, error) { return fn(ctx, inst.(T)) }})
}

// finishResults stores the outcome of c: v, or err, in c.out; for a call
// with several returns (rest holds the others), v is one value per return.
func (c *actorCall) finishResults(rt *Runtime, rest []*object, v any, err error) {
	if err == nil && rest != nil {
		vs, ok := v.([]any)
		if ok && len(vs) == len(rest)+1 {
			rt.finish(c.out, vs[0])
			for i, o := range rest {
				rt.finish(o, vs[i+1])
			}
			return
		}
		err = fmt.Errorf("%w: call %q gave %T for %d returns", ErrInvalidInput, c.method, v, len(rest)+1)
	}
	if err != nil {
		c.out.complete(nil, err)
		for _, o := range rest {
			o.complete(nil, err)
		}
		return
	}
	rt.finish(c.out, v)
}

// registerActorMethodN registers a method with several returns of the
// types results.
func registerActorMethodN(name string, class reflect.Type, localOnly bool, args, results []reflect.Type, call func(context.Context, any, []any) (any, error)) {
	mc := &methodCode{signature: signature{"actor method", name, args, nil, localOnly}, class: class, call: call, results: results}
	mc.check()
	if !localOnly {
		for i, t := range results {
			if err := CheckEncodable(t); err != nil {
				panic(fmt.Sprintf("goray: actor method %q result %d: %v (register it with core.LocalOnly() if it only ever runs embedded)", name, i, err))
			}
		}
	}
	addMethodCode(mc)
}

// callByNameN queues a method call with len(hs) results that runs from
// its wire form (num_returns set), each result crossing the codec.
func callByNameN[T any](ctx context.Context, h *ActorHandle[T], method string, args []any, hs []*refHandle) {
	mc := lookupMethod(method)
	if mc == nil || mc.results == nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("%w: no actor method of several returns named %q", ErrNotRegistered, method))
		return
	}
	ts := &corepb.TaskSpec{MethodName: method, NumReturns: int32(len(hs))}
	if h != nil && h.a != nil {
		ts.ActorClass = h.a.class
	}
	wire, pins, err := wireSpec(ts, mc.args, args, nil)
	if err != nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("call %q: %w", method, err))
		return
	}
	callActorN(ctx, h, method, nil, hs, func(ctx context.Context, inst T) (any, error) {
		return runByNameN(ctx, inst, mc, wire)
	})
	// The results complete together: the first tells when the call is over.
	pins.releaseWith(hs[0].obj)
}

// methodByNameN runs a call with n results from the wire form of
// arguments known only now (RemoteArgs, once its refs are ready).
func methodByNameN(ctx context.Context, inst any, method string, args []any, n int) (any, error) {
	mc := lookupMethod(method)
	if mc == nil || mc.results == nil {
		return nil, fmt.Errorf("%w: no actor method of several returns named %q", ErrNotRegistered, method)
	}
	wire, pins, err := wireSpec(&corepb.TaskSpec{MethodName: method, NumReturns: int32(n)}, mc.args, args, nil)
	if err != nil {
		return nil, fmt.Errorf("call %q: %w", method, err)
	}
	defer pins.release()
	return runByNameN(ctx, inst, mc, wire)
}

// runByNameN is the worker side of a call with several returns: it
// decodes the call, runs the method and sends each result through the
// codec.
func runByNameN(ctx context.Context, inst any, mc *methodCode, wire []byte) (any, error) {
	ts, args, err := readSpec(wire, mc.args)
	if err != nil {
		return nil, fmt.Errorf("call %q: %w", mc.name, err)
	}
	worker := lookupMethod(ts.GetMethodName())
	if worker == nil || worker.results == nil {
		return nil, fmt.Errorf("%w: no actor method of several returns named %q", ErrNotRegistered, ts.GetMethodName())
	}
	v, err := worker.call(ctx, inst, args)
	if err != nil {
		return nil, remoteErr(err)
	}
	vs, ok := v.([]any)
	if n := int(ts.GetNumReturns()); !ok || len(vs) != n || n != len(worker.results) {
		return nil, fmt.Errorf("%w: call %q returned %d values for %d returns", ErrInvalidInput, mc.name, len(vs), n)
	}
	for i, x := range vs {
		if vs[i], err = roundTrip(worker.results[i], x); err != nil {
			return nil, fmt.Errorf("call %q return %d: %w", mc.name, i+1, err)
		}
	}
	return vs, nil
}
