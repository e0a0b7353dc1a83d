package core

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/goray/goray/core/corepb"
)

// CheckRegistrations does for every registered function, actor class and
// actor method what a worker on another node does before it runs a call:
// it writes the wire spec of a call with zero-valued arguments, reads it
// back, finds the registration by the name in the spec, decodes every
// argument as the type the registration declares, and sends a zero result
// through the codec. It runs no user code. It returns how many
// registrations it checked and an error naming each one that fails;
// LocalOnly registrations are skipped (LocalOnlyRegistrations lists them).
// A test that calls it shows that every function a program registers can
// be dispatched by name on a cluster.
func CheckRegistrations() (checked int, err error) {
	code.RLock()
	var sigs []*signature
	for _, c := range code.funcs {
		sigs = append(sigs, &c.signature)
	}
	for _, c := range code.classes {
		sigs = append(sigs, &c.signature)
	}
	for _, c := range code.methods {
		sigs = append(sigs, &c.signature)
	}
	funcResults := map[string][]reflect.Type{}
	for n, c := range code.funcs {
		if c.results != nil {
			funcResults[n] = c.results
		}
	}
	code.RUnlock()
	sort.Slice(sigs, func(i, j int) bool {
		if sigs[i].kind != sigs[j].kind {
			return sigs[i].kind < sigs[j].kind
		}
		return sigs[i].name < sigs[j].name
	})
	var errs []error
	for _, s := range sigs {
		if s.localOnly {
			continue
		}
		checked++
		results := funcResults[s.name]
		if s.kind != "function" {
			results = nil
		}
		if e := checkDispatch(s, results); e != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", s.kind, s.name, e))
		}
	}
	return checked, errors.Join(errs...)
}

// checkDispatch round-trips a zero-valued call of s through its wire spec
// and the lookup by name.
func checkDispatch(s *signature, results []reflect.Type) error {
	ts := &corepb.TaskSpec{}
	switch s.kind {
	case "function":
		ts.FunctionName = s.name
	case "actor class":
		ts.ActorClass = s.name
	default:
		ts.MethodName = s.name
	}
	args := make([]any, len(s.args))
	for i, t := range s.args {
		args[i] = reflect.Zero(t).Interface()
	}
	wire, pins, err := wireSpec(ts, s.args, args, nil)
	pins.release()
	if err != nil {
		return fmt.Errorf("encode the call: %w", err)
	}
	var decl []reflect.Type
	switch s.kind {
	case "function":
		_, fc, got, err := readFuncSpec(wire)
		if err != nil {
			return fmt.Errorf("decode the call: %w", err)
		}
		decl, args = fc.args, got
	case "actor class":
		back, got, err := readSpec(wire, s.args)
		if err != nil {
			return fmt.Errorf("decode the call: %w", err)
		}
		if lookupClass(back.GetActorClass()) == nil {
			return fmt.Errorf("%w: the spec names class %q, which is not registered", ErrNotRegistered, back.GetActorClass())
		}
		decl, args = s.args, got
	default:
		back, got, err := readSpec(wire, s.args)
		if err != nil {
			return fmt.Errorf("decode the call: %w", err)
		}
		if lookupMethod(back.GetMethodName()) == nil {
			return fmt.Errorf("%w: the spec names method %q, which is not registered", ErrNotRegistered, back.GetMethodName())
		}
		decl, args = s.args, got
	}
	for i, a := range args {
		if a != nil && reflect.TypeOf(a) != decl[i] {
			return fmt.Errorf("argument %d decoded as %T, declared %v", i, a, decl[i])
		}
	}
	outs := results
	if outs == nil && s.result != nil {
		outs = []reflect.Type{s.result}
	}
	for i, t := range outs {
		if _, err := roundTrip(t, reflect.Zero(t).Interface()); err != nil {
			return fmt.Errorf("result %d: %w", i+1, err)
		}
	}
	return nil
}
