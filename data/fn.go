package data

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
)

// A map task runs on whichever node has room for it; on a cluster, in
// another process. A func value cannot go there, and neither can the
// variables it captures, so a function that must run on a cluster is
// registered by name at package initialisation (the same name in every
// process of the program) and its state travels as an explicit, encoded
// argument, as Ray's fn_args and fn_constructor_args do:
//
//	type scaleArgs struct{ Factor float64 }
//
//	var scale = data.RegisterBatchFunc("mypkg.scale",
//		func(ctx context.Context, batch arrow.Record, a scaleArgs) (arrow.Record, error) { ... })
//
//	ds = ds.MapBatchesFn(scale.FnArgs(scaleArgs{Factor: 2}))

// BatchFn is a batch function registered by name with RegisterBatchFunc;
// A is the type of its explicit arguments (FnArgs). The zero BatchFn is no
// function.
type BatchFn[A any] struct{ name string }

// Name is the name the function was registered under.
func (f BatchFn[A]) Name() string { return f.name }

// FnArgs binds the function to args, what every call receives (each task
// decodes its own copy): the Fn that MapBatchesFn runs.
func (f BatchFn[A]) FnArgs(args A) Fn {
	return Fn{name: f.name, args: args}
}

// BatchClass is a stateful batch function registered by name with
// RegisterBatchClass: each actor of the pool builds its BatchFunc once
// from constructor arguments of type C (FnConstructorArgs), e.g. a model
// loaded from a path. The zero BatchClass is no class.
type BatchClass[C any] struct{ name string }

// Name is the name the class was registered under.
func (c BatchClass[C]) Name() string { return c.name }

// FnConstructorArgs binds the class to the arguments every actor of the
// pool is built with: the Fn that MapBatchesFn runs on an actor pool
// (size: Concurrency, default 1).
func (c BatchClass[C]) FnConstructorArgs(args C) Fn {
	return Fn{name: c.name, class: true, args: args}
}

// Fn is a registered batch function or class bound to its arguments, what
// MapBatchesFn takes. Build one with BatchFn.FnArgs or
// BatchClass.FnConstructorArgs.
type Fn struct {
	name  string
	class bool
	args  any
}

// registered is one registration: the code a task looks up by name.
type registered struct {
	name    string
	argType reflect.Type
	// call runs a batch function on args of type argType.
	call func(ctx context.Context, batch arrow.Record, args any) (arrow.Record, error)
	// construct builds a class's function from args of type argType.
	construct func(ctx context.Context, args any) (BatchFunc, error)
}

var registry struct {
	sync.RWMutex
	byName map[string]*registered
}

func register(kind, name string, r *registered) {
	if name == "" {
		panic(fmt.Sprintf("data: %s: empty name", kind))
	}
	if err := core.CheckEncodable(r.argType); err != nil {
		panic(fmt.Sprintf("data: %s(%q): its arguments cannot travel to another process: %v", kind, name, err))
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]*registered{}
	}
	if _, dup := registry.byName[name]; dup {
		panic(fmt.Sprintf("data: %q registered twice", name))
	}
	registry.byName[name] = r
}

func lookupFn(name string) (*registered, error) {
	registry.RLock()
	defer registry.RUnlock()
	r := registry.byName[name]
	if r == nil {
		return nil, fmt.Errorf("%w: no batch function or class is registered as %q in this process (data.RegisterBatchFunc or RegisterBatchClass at package initialisation)", ErrInvalidInput, name)
	}
	return r, nil
}

// RegisterBatchFunc registers fn as the batch function called name and
// returns it for MapBatchesFn. fn receives, besides the batch, the
// arguments bound with FnArgs, decoded anew in every task; it follows the
// rules of a MapBatches function (it must not release batch and returns a
// record it owns). Call it at package initialisation (var f =
// data.RegisterBatchFunc(...)), so that every process registers the same
// functions under the same names; name functions after their package, as
// "mypkg.scale". An empty name, a nil fn, a name registered twice or an
// argument type that cannot be encoded (a func, a channel, an interface,
// an unexported field) panics: they are programmer errors.
func RegisterBatchFunc[A any](name string, fn func(ctx context.Context, batch arrow.Record, args A) (arrow.Record, error)) BatchFn[A] {
	if fn == nil {
		panic(fmt.Sprintf("data: RegisterBatchFunc(%q): nil func", name))
	}
	register("RegisterBatchFunc", name, &registered{
		name:    name,
		argType: reflect.TypeFor[A](),
		call: func(ctx context.Context, batch arrow.Record, args any) (arrow.Record, error) {
			return fn(ctx, batch, args.(A))
		},
	})
	return BatchFn[A]{name: name}
}

// RegisterBatchClass registers newFn as the stateful batch function called
// name and returns it for MapBatchesFn: every actor of the pool calls
// newFn once, with the arguments bound by FnConstructorArgs, and then the
// BatchFunc it returns for each bundle of blocks. The rules of
// RegisterBatchFunc apply.
func RegisterBatchClass[C any](name string, newFn func(ctx context.Context, args C) (BatchFunc, error)) BatchClass[C] {
	if newFn == nil {
		panic(fmt.Sprintf("data: RegisterBatchClass(%q): nil func", name))
	}
	register("RegisterBatchClass", name, &registered{
		name:    name,
		argType: reflect.TypeFor[C](),
		construct: func(ctx context.Context, args any) (BatchFunc, error) {
			return newFn(ctx, args.(C))
		},
	})
	return BatchClass[C]{name: name}
}

// opFn is how a map operator built from an Fn runs by name: the
// registration's name and the encoding of its arguments (what a task
// decodes), or why the arguments could not be encoded.
type opFn struct {
	name  string
	class bool
	args  any // kept so that refs among them stay alive as long as the plan
	enc   []byte
	err   error
}

func newOpFn(operator string, f Fn) *opFn {
	o := &opFn{name: f.name, class: f.class, args: f.args}
	kind := "FnArgs"
	if f.class {
		kind = "FnConstructorArgs"
	}
	if f.name == "" {
		o.err = fmt.Errorf("%w: %s: the zero Fn (build one with BatchFn.FnArgs or BatchClass.FnConstructorArgs)", ErrInvalidInput, operator)
		return o
	}
	r, err := lookupFn(f.name)
	if err != nil {
		o.err = fmt.Errorf("%s: %w", operator, err)
		return o
	}
	if f.class != (r.construct != nil) {
		o.err = fmt.Errorf("%w: %s: %q is registered as a %s", ErrInvalidInput, operator, f.name, map[bool]string{true: "class", false: "function"}[r.construct != nil])
		return o
	}
	o.enc, err = core.Encode(f.args)
	if err != nil {
		o.err = fmt.Errorf("%w: %s: %s of %q (%T) cannot travel to another process: %w", ErrInvalidInput, operator, kind, f.name, f.args, err)
	}
	return o
}

// decodeArgs decodes the arguments of registration r.
func (r *registered) decodeArgs(operator string, b []byte) (any, error) {
	x, err := core.Decode(b, r.argType)
	if err != nil {
		return nil, fmt.Errorf("%s: arguments of %q: %w", operator, r.name, err)
	}
	if x == nil {
		return reflect.Zero(r.argType).Interface(), nil
	}
	return x, nil
}

// batchFunc returns registered function name bound to its encoded args.
func batchFunc(operator, name string, args []byte) (BatchFunc, error) {
	r, err := lookupFn(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operator, err)
	}
	if r.call == nil {
		return nil, fmt.Errorf("%w: %s: %q is a class, not a function", ErrInvalidInput, operator, name)
	}
	a, err := r.decodeArgs(operator, args)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		return r.call(ctx, batch, a)
	}, nil
}

// constructClass builds registered class name from its encoded args.
func constructClass(ctx context.Context, operator, name string, args []byte) (BatchFunc, error) {
	r, err := lookupFn(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operator, err)
	}
	if r.construct == nil {
		return nil, fmt.Errorf("%w: %s: %q is a function, not a class", ErrInvalidInput, operator, name)
	}
	a, err := r.decodeArgs(operator, args)
	if err != nil {
		return nil, err
	}
	fn, err := r.construct(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: constructing %q: %w", ErrOperatorFailed, operator, name, err)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: %s: class %q returned a nil BatchFunc", ErrInvalidInput, operator, name)
	}
	return fn, nil
}
