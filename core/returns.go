package core

import (
	"context"
	"fmt"
	"reflect"

	"github.com/goray/goray/core/corepb"
)

// Several returns. A function registered with FuncAxB (A arguments, B = 2
// or 3 results) or FuncAxN (a []R result split into NumReturns refs) runs
// as one task whose results are separate objects: each ref can be passed
// on, waited on and released on its own, and releasing one does not free
// the others (Ray's num_returns). Cancelling any of them cancels the task;
// an error fails them all.

// launchN submits a call with len(hs) returns to the backend of ctx,
// filling hs with their handles. run returns the values as a []any of
// that length.
func launchN(ctx context.Context, s *spec, deps []*object, hs []*refHandle, run func(ctx context.Context) (any, error)) {
	b, parent, sub, err := callerFor(ctx)
	if err != nil {
		failHandles(nil, hs, err)
		return
	}
	b.submitTask(ctx, taskCall{spec: s, parent: parent, run: run, deps: deps, id: sub.nextTaskID(), returns: hs})
}

// startN makes and starts the task of c, a call with several returns: one
// object per return, each named ReturnObjectID(c.id, index).
func (rt *Runtime) startN(ctx context.Context, c taskCall) {
	hs := c.returns
	t, live := rt.newTask(c.spec, c.id, 1, c.deps, c.run)
	hs[0] = newHandle(rt, t.out)
	if len(hs) > 1 {
		rest := make([]*object, len(hs)-1)
		for i := range rest {
			o := rt.store.newObject(ReturnObjectID(c.id, uint32(i+2)))
			o.producer, o.fn, o.argIDs = t, t.out.fn, t.out.argIDs
			rest[i] = o
			hs[i+1] = newHandle(rt, o)
		}
		t.mu.Lock()
		t.extra().rest = rest
		t.mu.Unlock()
	}
	rt.start(ctx, c.parent, t, live)
}

// failHandles fills hs with handles of objects that hold err.
func failHandles(rt *Runtime, hs []*refHandle, err error) {
	for i := range hs {
		hs[i] = failedRef[any](rt, err).h
	}
}

// refsOf types the handles of a FuncAxN call.
func refsOf[R any](hs []*refHandle) []Ref[R] {
	out := make([]Ref[R], len(hs))
	for i, h := range hs {
		out[i] = Ref[R]{h: h}
	}
	return out
}

// spread turns the []R of a FuncAxN function into the values of its n
// returns; another count is the task's error.
func spread[R any](rs []R, n int, name string) (any, error) {
	if len(rs) != n {
		return nil, fmt.Errorf("%w: task %q returned %d values for NumReturns(%d)", ErrInvalidInput, name, len(rs), n)
	}
	vs := make([]any, n)
	for i, r := range rs {
		vs[i] = r
	}
	return vs, nil
}

// numReturns is the count of returns of a FuncAxN call.
func (s *spec) numReturns() int { return max(s.opts.task.numReturns, 1) }

// registerFuncN registers a function with several returns: results are
// their types, or nil with each the type of every one (FuncAxN).
func registerFuncN(name string, localOnly bool, args, results []reflect.Type, each reflect.Type, call func(context.Context, []any) (any, error)) {
	fc := &funcCode{signature: signature{"function", name, args, each, localOnly}, call: call, results: results}
	fc.check()
	if !localOnly {
		for i, t := range results {
			if err := CheckEncodable(t); err != nil {
				panic(fmt.Sprintf("goray: function %q result %d: %v (register it with core.LocalOnly() if it only ever runs embedded)", name, i, err))
			}
		}
	}
	addFuncCode(name, fc)
}

// launchByNameN submits a call with several returns by name: its wire
// spec (num_returns set) is what the backend runs, each result crossing
// the codec on its way back (execFuncN).
func launchByNameN(ctx context.Context, s *spec, args []any, hs []*refHandle) {
	fc := lookupFunc(s.name)
	if fc == nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("%w: no remote function named %q", ErrNotRegistered, s.name))
		return
	}
	b, parent, sub, err := callerFor(ctx)
	if err != nil {
		failHandles(nil, hs, err)
		return
	}
	id := sub.nextTaskID()
	ts := &corepb.TaskSpec{FunctionName: s.name, TaskId: id[:], ParentTaskId: sub.id[:], NumReturns: int32(len(hs))}
	wire, pins, err := wireSpec(ts, fc.args, args, &s.opts)
	if err != nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("task %q: %w", s.name, err))
		return
	}
	b.submitTask(ctx, taskCall{spec: s, parent: parent, wire: wire, id: id, returns: hs})
	// The arguments' objects stay pinned until the task is over (its
	// results complete together).
	pins.releaseWith(hs[0].obj)
}

// execFuncN is the worker side of a by-name call with several returns.
func execFuncN(ctx context.Context, name string, wire []byte) (any, error) {
	ts, worker, args, err := readFuncSpec(wire)
	if err != nil {
		return nil, &argError{fmt.Errorf("task %q: %w", name, err)}
	}
	v, err := worker.call(ctx, args)
	if err != nil {
		return nil, remoteErr(err)
	}
	vs, ok := v.([]any)
	if n := int(ts.GetNumReturns()); !ok || len(vs) != n {
		return nil, remoteErr(fmt.Errorf("%w: task %q returned %d values for NumReturns(%d)", ErrInvalidInput, name, len(vs), n))
	}
	for i, x := range vs {
		if vs[i], err = roundTrip(worker.resultType(i), x); err != nil {
			return nil, fmt.Errorf("return %d: %w", i+1, err)
		}
	}
	return vs, nil
}
