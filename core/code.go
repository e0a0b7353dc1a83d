package core

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
)

// LocalOnly marks a registration (Func, Actor or Method) as embedded only:
// its arguments or result are in-process values (funcs, channels,
// contexts, values with unexported fields) that no codec can carry, so it
// can never run on a cluster. Without it such a registration panics.
// Every LocalOnly registration is listed by LocalOnlyRegistrations: it is
// the to-do list for running the code on a cluster.
func LocalOnly() LocalOnlyOption { return LocalOnlyOption{} }

// LocalOnlyOption is what LocalOnly returns: a FuncOption, an ActorOption
// and a MethodOption.
type LocalOnlyOption struct{}

func (LocalOnlyOption) funcOpt(o *options)   { o.localOnly = true }
func (LocalOnlyOption) actorOpt(o *options)  { o.localOnly = true }
func (LocalOnlyOption) methodOpt(o *options) { o.localOnly = true }

// registrationLocalOnly applies a method's registration options.
func registrationLocalOnly(opts []MethodOption) bool {
	var o options
	for _, f := range opts {
		f.methodOpt(&o)
	}
	return o.localOnly
}

// signature is what a registration declares: the types that cross the
// process boundary when the code runs on another node.
type signature struct {
	kind      string // "function", "actor class", "actor method"
	name      string
	args      []reflect.Type
	result    reflect.Type // nil for an actor class (its instance stays put)
	localOnly bool
}

// check panics (a programmer error, at package init) when a type of the
// signature cannot be encoded.
func (s *signature) check() {
	if s.localOnly {
		return
	}
	for i, t := range s.args {
		if err := CheckEncodable(t); err != nil {
			panic(fmt.Sprintf("goray: %s %q argument %d: %v (register it with core.LocalOnly() if it only ever runs embedded)", s.kind, s.name, i, err))
		}
	}
	if s.result != nil {
		if err := CheckEncodable(s.result); err != nil {
			panic(fmt.Sprintf("goray: %s %q result: %v (register it with core.LocalOnly() if it only ever runs embedded)", s.kind, s.name, err))
		}
	}
}

// funcCode, classCode and methodCode are registered code, callable by name
// with untyped arguments: what a cluster worker runs, and what encode-all
// mode dispatches through.
type funcCode struct {
	signature
	call func(ctx context.Context, args []any) (any, error)
	// A function with several returns (FuncAxB, FuncAxN) gives them to
	// call's caller as one []any: results are their types, or, for FuncAxN
	// (results nil), every one is of type result.
	results []reflect.Type
	// gen runs a generator (Gen0..Gen4); each value it yields is of type result.
	gen func(ctx context.Context, args []any, yield func(any) error) error
}

// resultType is the type of return i (from 0).
func (fc *funcCode) resultType(i int) reflect.Type {
	if fc.results != nil {
		return fc.results[i]
	}
	return fc.result
}

type classCode struct {
	signature
	typ       reflect.Type
	construct func(ctx context.Context, args []any) (any, error)
}

type methodCode struct {
	signature
	class reflect.Type
	call  func(ctx context.Context, inst any, args []any) (any, error)
	// A method with several returns (MethodAxB) gives them to call's
	// caller as one []any, of the types results (result is then nil).
	results []reflect.Type
	// gen runs a generator method (GenMethodA); each value it yields is of
	// type result.
	gen func(ctx context.Context, inst any, args []any, yield func(any) error) error
}

var code struct {
	sync.RWMutex
	funcs   map[string]*funcCode
	classes map[string]*classCode
	methods map[string]*methodCode
}

func registerFunc(name string, localOnly bool, args []reflect.Type, result reflect.Type, call func(context.Context, []any) (any, error)) {
	fc := &funcCode{signature: signature{"function", name, args, result, localOnly}, call: call}
	fc.check()
	addFuncCode(name, fc)
}

// addFuncCode registers checked function code under name.
func addFuncCode(name string, fc *funcCode) {
	register(name, &funcInfo{name: name, args: fc.args, call: fc.call})
	code.Lock()
	defer code.Unlock()
	if code.funcs == nil {
		code.funcs = map[string]*funcCode{}
	}
	code.funcs[name] = fc
}

func registerActorClass(name string, typ reflect.Type, localOnly bool, args []reflect.Type, construct func(context.Context, []any) (any, error)) {
	cc := &classCode{signature{"actor class", name, args, nil, localOnly}, typ, construct}
	cc.check()
	registerClass(name, typ)
	code.Lock()
	defer code.Unlock()
	if code.classes == nil {
		code.classes = map[string]*classCode{}
	}
	code.classes[name] = cc
}

func registerActorMethod(name string, class reflect.Type, localOnly bool, args []reflect.Type, result reflect.Type, call func(context.Context, any, []any) (any, error)) {
	mc := &methodCode{signature: signature{"actor method", name, args, result, localOnly}, class: class, call: call}
	mc.check()
	addMethodCode(mc)
}

// addMethodCode registers checked method code under its name.
func addMethodCode(mc *methodCode) {
	name := mc.name
	registerMethod(name, mc.class)
	code.Lock()
	defer code.Unlock()
	if code.methods == nil {
		code.methods = map[string]*methodCode{}
	}
	code.methods[name] = mc
}

func lookupFunc(name string) *funcCode {
	code.RLock()
	defer code.RUnlock()
	return code.funcs[name]
}

func lookupClass(name string) *classCode {
	code.RLock()
	defer code.RUnlock()
	return code.classes[name]
}

func lookupMethod(name string) *methodCode {
	code.RLock()
	defer code.RUnlock()
	return code.methods[name]
}

// LocalOnlyRegistrations lists the registrations made with LocalOnly, as
// "function NAME", "actor class NAME" or "actor method NAME", sorted.
func LocalOnlyRegistrations() []string {
	code.RLock()
	defer code.RUnlock()
	var out []string
	for n, c := range code.funcs {
		if c.localOnly {
			out = append(out, "function "+n)
		}
	}
	for n, c := range code.classes {
		if c.localOnly {
			out = append(out, "actor class "+n)
		}
	}
	for n, c := range code.methods {
		if c.localOnly {
			out = append(out, "actor method "+n)
		}
	}
	sort.Strings(out)
	return out
}

// awaitArg reads an actor method's Arg: a plain value, or a ref's value
// (ready by the time the call runs: the call waits for its ref arguments
// before it enters the actor's mailbox).
func awaitArg[T any](ctx context.Context, a Arg[T], i int, method string) (T, error) {
	v, obj, isRef := a.resolveArg()
	if !isRef {
		return v, nil
	}
	var zero T
	if obj == nil {
		return zero, fmt.Errorf("%w: call %q argument %d is a zero Ref", ErrInvalidInput, method, i)
	}
	x, err := ctx.Value(holderKey{}).(*actor).rt.wait(ctx, obj)
	if err != nil {
		return zero, wrapRefErr(method, i, err)
	}
	if x == nil {
		return zero, nil
	}
	t, ok := x.(T)
	if !ok {
		return zero, fmt.Errorf("%w: call %q argument %d: ref holds %T, want %T", ErrInvalidInput, method, i, x, zero)
	}
	return t, nil
}
