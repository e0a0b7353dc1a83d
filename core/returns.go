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

// launchN builds and submits a task with len(hs) returns, filling hs with
// their handles. run returns the values as a []any of that length.
func launchN(ctx context.Context, s *spec, deps []*object, hs []*refHandle, run func(ctx context.Context) (any, error)) {
	launchNWithID(ctx, s, deps, hs, newCallID(), run)
}

// newCallID is the TaskID of a call whose objects are named by ObjectID.
func newCallID() TaskID { return NewTaskID(localDriver, taskSeq.Add(1)) }

func launchNWithID(ctx context.Context, s *spec, deps []*object, hs []*refHandle, id TaskID, run func(ctx context.Context) (any, error)) {
	rt, parent, err := prepare(ctx, s, len(hs))
	if err != nil {
		failHandles(rt, hs, err)
		return
	}
	t, live := rt.newTask(s, deps, run)
	oids := make([]ObjectID, len(hs))
	for i := range oids {
		oids[i] = ReturnObjectID(id, uint32(i+1))
	}
	hs[0] = newHandle(rt, t.out)
	hs[0].oid = &oids[0]
	if len(hs) > 1 {
		rest := make([]*object, len(hs)-1)
		for i := range rest {
			o := rt.store.newObject()
			o.producer, o.fn, o.argIDs = t, t.out.fn, t.out.argIDs
			rest[i] = o
			hs[i+1] = newHandle(rt, o)
			hs[i+1].oid = &oids[i+1]
		}
		t.mu.Lock()
		t.extra().rest = rest
		t.mu.Unlock()
	}
	rt.start(ctx, parent, t, live)
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

// launchByNameN runs a call with several returns the way a cluster worker
// would: from its wire spec (num_returns set), each result crossing the
// codec on its way back.
func launchByNameN(ctx context.Context, s *spec, args []any, hs []*refHandle) {
	fc := lookupFunc(s.name)
	if fc == nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("%w: no remote function named %q", ErrNotRegistered, s.name))
		return
	}
	id := newCallID()
	ts := &corepb.TaskSpec{FunctionName: s.name, TaskId: id[:], NumReturns: int32(len(hs))}
	wire, pins, err := wireSpec(ts, fc.args, args, &s.opts)
	if err != nil {
		rt, _ := current()
		failHandles(rt, hs, fmt.Errorf("task %q: %w", s.name, err))
		return
	}
	// The arguments' objects stay pinned until the task is over (its
	// results complete together).
	defer func() {
		if hs[0] != nil && hs[0].obj != nil {
			pins.releaseWith(hs[0].obj)
		} else {
			pins.release()
		}
	}()
	launchNWithID(ctx, s, nil, hs, id, func(ctx context.Context) (any, error) {
		ts, args, err := readSpec(wire, fc.args)
		if err != nil {
			return nil, &argError{fmt.Errorf("task %q: %w", s.name, err)}
		}
		worker := lookupFunc(ts.GetFunctionName())
		if worker == nil {
			return nil, &argError{fmt.Errorf("%w: no remote function named %q", ErrNotRegistered, ts.GetFunctionName())}
		}
		v, err := worker.call(ctx, args)
		if err != nil {
			return nil, remoteErr(err)
		}
		vs, ok := v.([]any)
		if n := int(ts.GetNumReturns()); !ok || len(vs) != n {
			return nil, remoteErr(fmt.Errorf("%w: task %q returned %d values for NumReturns(%d)", ErrInvalidInput, s.name, len(vs), n))
		}
		for i, x := range vs {
			if vs[i], err = roundTrip(worker.resultType(i), x); err != nil {
				return nil, fmt.Errorf("return %d: %w", i+1, err)
			}
		}
		return vs, nil
	})
}
