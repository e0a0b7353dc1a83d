package core

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/goray/goray/core/corepb"
)

// WithEncodeAll makes the runtime behave, at the process boundary, as a
// cluster would: every argument, result and Put value is encoded and
// decoded through the codec, and every call of a function, actor
// constructor or method goes as a corepb.TaskSpec through the by-name
// registry (the registered code runs on decoded arguments; its result and
// error come back encoded). LocalOnly registrations keep the in-process
// path; EncodeAllBypassed counts their calls. GORAY_ENCODE_ALL=1 in the
// environment turns the mode on for every runtime.
func WithEncodeAll() InitOption { return func(c *initConfig) { c.encodeAll = true } }

var envEncodeAll = os.Getenv("GORAY_ENCODE_ALL") == "1"

// encodeAllOn reports whether calls made now go through the codec. It is
// what the normal path pays for the mode: one atomic load.
func encodeAllOn() bool {
	if envEncodeAll {
		return true
	}
	rt := global.rt.Load()
	return rt != nil && rt.cfg.encodeAll
}

var bypassed sync.Map // "kind name" -> *atomic.Int64

// bypass counts (and logs the first) in-process call of a LocalOnly
// registration in encode-all mode.
func bypass(kind, name string) {
	key := kind + " " + name
	c, ok := bypassed.Load(key)
	if !ok {
		var loaded bool
		c, loaded = bypassed.LoadOrStore(key, new(atomic.Int64))
		if !loaded {
			log.Printf("goray: encode-all: %s is LocalOnly; its calls stay in-process", key)
		}
	}
	c.(*atomic.Int64).Add(1)
}

// EncodeAllBypassed reports, per LocalOnly registration ("function NAME",
// "actor class NAME", "actor method NAME"), how many calls kept the
// in-process path in encode-all mode.
func EncodeAllBypassed() map[string]int64 {
	out := map[string]int64{}
	bypassed.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func encodeAllFor(s *spec) bool {
	if !encodeAllOn() {
		return false
	}
	if s.opts.localOnly {
		bypass("function", s.name)
		return false
	}
	return true
}

func encodeAllClass(name string, localOnly bool) bool {
	if !encodeAllOn() {
		return false
	}
	if localOnly {
		bypass("actor class", name)
		return false
	}
	return true
}

func encodeAllMethod(name string, localOnly bool) bool {
	if !encodeAllOn() {
		return false
	}
	if localOnly {
		bypass("actor method", name)
		return false
	}
	return true
}

// The job of this process and its driver task, until a cluster gives out
// job IDs; taskSeq numbers the specs that name no task of their own (an
// actor's constructor, RemoteArgs' late method arguments).
var (
	localJob    = JobIDFromInt(uint32(os.Getpid()))
	localDriver = DriverTaskID(localJob)
	taskSeq     atomic.Uint64
)

// encodeAs encodes v as a value of its declared type t.
func encodeAs(t reflect.Type, v any) (*corepb.Value, error) {
	c := codecOf(t)
	if c.err != nil {
		return nil, c.err
	}
	if v == nil {
		return nil, fmt.Errorf("%w: a nil %v", ErrNotEncodable, t)
	}
	var buf bytes.Buffer
	if err := c.enc(&buf, v); err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrNotEncodable, t, err)
	}
	return &corepb.Value{Codec: corepb.Codec(c.kind), Data: buf.Bytes(), GoType: t.String()}, nil
}

// decodeAs decodes a value that encodeAs wrote for type t.
func decodeAs(t reflect.Type, v *corepb.Value) (any, error) {
	c := codecOf(t)
	if c.err != nil {
		return nil, c.err
	}
	if got := CodecKind(v.GetCodec()); got != c.kind {
		return nil, fmt.Errorf("%w: a %s value (%s), but %v decodes as %s", ErrInvalidInput, got, v.GetGoType(), t, c.kind)
	}
	x, err := c.dec(v.GetData())
	if err != nil {
		return nil, fmt.Errorf("%w: decode %v: %w", ErrInvalidInput, t, err)
	}
	return x, nil
}

// roundTrip sends v through the codec as a value of type t, as a result
// on its way back to the caller.
func roundTrip(t reflect.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.IsNil() {
		return v, nil // a typed nil: nothing to copy
	}
	ev, err := encodeAs(t, v)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var back corepb.Value
	if err := proto.Unmarshal(b, &back); err != nil {
		return nil, err
	}
	x, err := decodeAs(t, &back)
	// v's refs hold their objects until the copies hold them too: the
	// bytes in between pin nothing.
	runtime.KeepAlive(v)
	return x, err
}

// putValue checks that v can be stored and, in encode-all mode, stores
// what the codec gives back for it.
func putValue[T any](v T) (T, error) {
	st := reflect.TypeFor[T]()
	if err := checkValue(st, v); err != nil {
		return v, err
	}
	if !encodeAllOn() {
		return v, nil
	}
	t := st
	if t.Kind() == reflect.Interface {
		if _, ok := registeredFor(t); !ok {
			t = reflect.TypeOf(v)
		}
	}
	x, err := roundTrip(t, v)
	if err != nil || x == nil {
		return v, err
	}
	return x.(T), nil
}

// wireSpec builds the wire form of a call and encodes it. The objects and
// actors its arguments refer to are pinned until the pins are released,
// when the call is over: only the bytes hold the refs meanwhile.
func wireSpec(ts *corepb.TaskSpec, types []reflect.Type, args []any, o *options) (wire []byte, pins *pinSet, err error) {
	pins = pinArgs(types, args)
	defer func() {
		if err != nil {
			pins.release()
			pins = nil
		}
	}()
	ts.JobId = localJob[:]
	if ts.ParentTaskId == nil {
		ts.ParentTaskId = localDriver[:]
	}
	if ts.TaskId == nil {
		id := NewTaskID(localDriver, taskSeq.Add(1))
		ts.TaskId = id[:]
	}
	if ts.NumReturns == 0 {
		ts.NumReturns = 1
	}
	for i, t := range types {
		v, err := encodeAs(t, args[i])
		if err != nil {
			return nil, nil, fmt.Errorf("argument %d: %w", i, err)
		}
		ts.Args = append(ts.Args, &corepb.TaskArg{Kind: &corepb.TaskArg_Inline{Inline: v}})
	}
	if o != nil {
		res := &corepb.Resources{Cpu: o.res.cpu, Gpu: o.res.gpu, Memory: o.res.mem}
		if len(o.res.custom) > 0 {
			res.Custom = make(map[string]float64, len(o.res.custom))
			for k, v := range o.res.custom {
				res.Custom[k] = v
			}
		}
		ts.Options = &corepb.TaskOptions{Resources: res, MaxRetries: int32(o.maxRetries), RetryExceptions: o.retryExceptions,
			MaxRestarts: int32(o.maxRestarts), MaxTaskRetries: int32(o.maxTaskRetries), MaxConcurrency: int32(o.maxConcurrency), Name: o.name}
	}
	wire, err = proto.Marshal(ts)
	return wire, pins, err
}

// readSpec is the worker side: the spec and its decoded arguments.
func readSpec(wire []byte, types []reflect.Type) (*corepb.TaskSpec, []any, error) {
	var ts corepb.TaskSpec
	if err := proto.Unmarshal(wire, &ts); err != nil {
		return nil, nil, fmt.Errorf("%w: task spec: %v", ErrInvalidInput, err)
	}
	args, err := decodeArgs(&ts, types)
	return &ts, args, err
}

// readFuncSpec is the worker side of a function call: the spec, the
// registration it names and its arguments decoded as that one declares.
func readFuncSpec(wire []byte) (*corepb.TaskSpec, *funcCode, []any, error) {
	var ts corepb.TaskSpec
	if err := proto.Unmarshal(wire, &ts); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: task spec: %v", ErrInvalidInput, err)
	}
	worker := lookupFunc(ts.GetFunctionName())
	if worker == nil {
		return nil, nil, nil, fmt.Errorf("%w: no remote function named %q", ErrNotRegistered, ts.GetFunctionName())
	}
	args, err := decodeArgs(&ts, worker.args)
	return &ts, worker, args, err
}

// decodeArgs decodes a spec's inline arguments as types.
func decodeArgs(ts *corepb.TaskSpec, types []reflect.Type) ([]any, error) {
	if len(ts.Args) != len(types) {
		return nil, fmt.Errorf("%w: task spec has %d argument(s), the registration %d", ErrInvalidInput, len(ts.Args), len(types))
	}
	args := make([]any, len(types))
	for i, a := range ts.Args {
		v := a.GetInline()
		if v == nil {
			return nil, fmt.Errorf("%w: argument %d is not inline", ErrInvalidInput, i)
		}
		x, err := decodeAs(types[i], v)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		args[i] = x
	}
	return args, nil
}

// remoteErr sends a user error through the wire form, as a worker would.
func remoteErr(err error) error {
	if err == nil {
		return nil
	}
	return DecodeError(EncodeError(err))
}

// launchByName submits a function call by name: its wire spec is what
// the backend runs (execFunc), as a cluster worker would.
func launchByName[R any](ctx context.Context, s *spec, args []any) Ref[R] {
	fc := lookupFunc(s.name)
	if fc == nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("%w: no remote function named %q", ErrNotRegistered, s.name))
	}
	b, parent, sub, err := callerFor(ctx)
	if err != nil {
		return failedRef[R](nil, err)
	}
	id := sub.nextTaskID()
	wire, pins, err := wireSpec(&corepb.TaskSpec{FunctionName: s.name, TaskId: id[:], ParentTaskId: sub.id[:]}, fc.args, args, &s.opts)
	if err != nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("task %q: %w", s.name, err))
	}
	h := b.submitTask(ctx, taskCall{spec: s, parent: parent, wire: wire, id: id})
	pins.releaseWith(h.obj)
	return Ref[R]{h: h}
}

// execFunc is the worker side of a by-name function call: decode the
// spec, run the function it names, send the result back through the codec.
func execFunc(ctx context.Context, name string, wire []byte) (any, error) {
	_, worker, args, err := readFuncSpec(wire)
	if err != nil {
		return nil, &argError{fmt.Errorf("task %q: %w", name, err)}
	}
	v, err := worker.call(ctx, args)
	if err != nil {
		return nil, remoteErr(err)
	}
	return roundTrip(worker.result, v)
}

// constructByName returns an actor constructor that runs from the wire
// form of its arguments.
func constructByName(class string, args []any) (func(context.Context) (any, error), error) {
	cc := lookupClass(class)
	if cc == nil {
		return nil, fmt.Errorf("%w: no actor class named %q", ErrNotRegistered, class)
	}
	wire, pins, err := wireSpec(&corepb.TaskSpec{ActorClass: class}, cc.args, args, nil)
	if err != nil {
		return nil, fmt.Errorf("actor %q: %w", class, err)
	}
	// A restart decodes the arguments again: they stay pinned as long as
	// the actor can run its constructor.
	keep := pins.holdWhileReachable()
	return func(ctx context.Context) (any, error) {
		defer runtime.KeepAlive(keep)
		ts, args, err := readSpec(wire, cc.args)
		if err != nil {
			return nil, fmt.Errorf("actor %q: %w", class, err)
		}
		worker := lookupClass(ts.GetActorClass())
		if worker == nil {
			return nil, fmt.Errorf("%w: no actor class named %q", ErrNotRegistered, ts.GetActorClass())
		}
		inst, err := worker.construct(ctx, args)
		return inst, remoteErr(err)
	}, nil
}

// callByName queues an actor method call by name: its wire spec is what
// the actor's backend runs (execMethod).
func callByName[T, R any](ctx context.Context, h *ActorHandle[T], method string, args []any) Ref[R] {
	mc := lookupMethod(method)
	if mc == nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("%w: no actor method named %q", ErrNotRegistered, method))
	}
	if h == nil || h.a == nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("%w: call %q on a nil actor handle", ErrInvalidInput, method))
	}
	sub := h.a.rt.submitterFor(ctx, taskFromContext(ctx))
	id := sub.nextActorTaskID(h.a.id)
	ts := &corepb.TaskSpec{MethodName: method, ActorClass: h.a.class, TaskId: id[:], ParentTaskId: sub.id[:], ActorId: h.a.id[:]}
	wire, pins, err := wireSpec(ts, mc.args, args, nil)
	if err != nil {
		rt, _ := current()
		return failedRef[R](rt, fmt.Errorf("call %q: %w", method, err))
	}
	ref := Ref[R]{h: h.a.rt.front.callMethod(ctx, methodCall{a: h.a, method: method, wire: wire, id: id})}
	pins.releaseWith(ref.h.obj)
	return ref
}

// methodByName runs an actor method call from the wire form of arguments
// known only now (RemoteArgs, once its refs are ready).
func methodByName[T, R any](ctx context.Context, inst T, method string, args []any) (R, error) {
	var zero R
	mc := lookupMethod(method)
	if mc == nil {
		return zero, fmt.Errorf("%w: no actor method named %q", ErrNotRegistered, method)
	}
	wire, pins, err := wireSpec(&corepb.TaskSpec{MethodName: method}, mc.args, args, nil)
	if err != nil {
		return zero, fmt.Errorf("call %q: %w", method, err)
	}
	defer pins.release()
	x, err := execMethod(ctx, inst, mc, wire)
	if err != nil || x == nil {
		return zero, err
	}
	return x.(R), nil
}

// execMethod is the worker side of an actor method call: it decodes the
// call, runs the registered method and sends its result through the codec.
func execMethod(ctx context.Context, inst any, mc *methodCode, wire []byte) (any, error) {
	ts, args, err := readSpec(wire, mc.args)
	if err != nil {
		return nil, fmt.Errorf("call %q: %w", mc.name, err)
	}
	worker := lookupMethod(ts.GetMethodName())
	if worker == nil {
		return nil, fmt.Errorf("%w: no actor method named %q", ErrNotRegistered, ts.GetMethodName())
	}
	v, err := worker.call(ctx, inst, args)
	if err != nil {
		return nil, remoteErr(err)
	}
	return roundTrip(worker.result, v)
}
