package core

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"

	"github.com/goray/goray/core/corepb"
)

// The wire form of refs and actor handles. A Ref encodes as its object's
// ID and its owner's address (a corepb.ObjectRef), an *ActorHandle as the
// actor's ID and owner (a corepb.ActorRef), each inside a CBOR tag of its
// own, so that both can sit anywhere in a value the CBOR codec carries:
// a task argument, a result, a struct field, a slice. Decoding looks the
// object or actor up in the runtime running in this process and makes a
// new handle to it (a borrower's handle, counted like any other); an ID
// the runtime does not know is an error naming it.
//
// Encoding a ref puts its object in the owner's table (refTable) so that
// the ID can be decoded back; what keeps the object alive while only
// bytes hold the ref is the pin of whoever made the bytes: a submitted
// task for its arguments, an object for its spilled value. Bytes made with
// Encode by hand pin nothing: decode them while a handle still holds the
// object.
const (
	cborTagObjectRef = 0x676f7201 // "go" 'r' 1
	cborTagActorRef  = 0x676f7202
)

var cborNull = []byte{0xf6}

func isCBORNil(b []byte) bool { return len(b) == 1 && (b[0] == 0xf6 || b[0] == 0xf7) }

// MarshalCBOR writes the ref's wire form: the object's ID and owner. The
// zero Ref encodes as null.
func (r Ref[T]) MarshalCBOR() ([]byte, error) {
	if r.h == nil {
		return cborNull, nil
	}
	if r.h.released.Load() {
		return nil, fmt.Errorf("%w: %s was released", ErrObjectFreed, r.ID())
	}
	s := r.h.rt.store
	id, err := s.refs.export(r.h.obj)
	runtime.KeepAlive(r.h) // the handle holds the object until it is in the table
	if err != nil {
		return nil, err
	}
	return marshalTagged(cborTagObjectRef, &corepb.ObjectRef{ObjectId: id[:], Owner: s.refs.address()})
}

// UnmarshalCBOR reads a ref's wire form into a new handle to the object,
// which must be owned by the runtime running in this process and still be
// held by someone.
func (r *Ref[T]) UnmarshalCBOR(b []byte) error {
	if isCBORNil(b) {
		*r = Ref[T]{}
		return nil
	}
	var m corepb.ObjectRef
	if err := unmarshalTagged(b, cborTagObjectRef, "object ref", &m); err != nil {
		return err
	}
	id, err := ObjectIDFromBytes(m.GetObjectId())
	if err != nil {
		return err
	}
	rt, err := ownerRuntime(m.GetOwner(), "object "+id.String())
	if err != nil {
		return err
	}
	obj, err := rt.store.refs.borrow(id)
	if err != nil {
		return err
	}
	*r = Ref[T]{h: adoptHandle(rt, obj)}
	return nil
}

// ObjectID names the ref's object, on the wire too: ReturnObjectID of the
// task that makes it, or PutObjectID of the task (or driver) that put it.
// Ref.ID is its String form. The zero Ref has the nil ID.
func (r Ref[T]) ObjectID() ObjectID {
	if r.h == nil {
		return ObjectID{}
	}
	return r.h.obj.id
}

// MarshalCBOR writes the handle's wire form: the actor's ID and owner. A
// nil handle encodes as null.
func (h *ActorHandle[T]) MarshalCBOR() ([]byte, error) {
	if h == nil || h.a == nil {
		return cborNull, nil
	}
	t := &h.a.rt.store.refs
	id := t.exportActor(h.a)
	return marshalTagged(cborTagActorRef, &corepb.ActorRef{ActorId: id[:], Owner: t.address(), ActorClass: h.a.class})
}

// UnmarshalCBOR reads an actor handle's wire form: the actor must live in
// the runtime running in this process and be a T.
func (h *ActorHandle[T]) UnmarshalCBOR(b []byte) error {
	if isCBORNil(b) {
		h.a = nil
		return nil
	}
	var m corepb.ActorRef
	if err := unmarshalTagged(b, cborTagActorRef, "actor handle", &m); err != nil {
		return err
	}
	id, err := ActorIDFromBytes(m.GetActorId())
	if err != nil {
		return err
	}
	rt, err := ownerRuntime(m.GetOwner(), "actor "+id.String())
	if err != nil {
		return err
	}
	a, err := rt.store.refs.lookupActor(id)
	if err != nil {
		return err
	}
	if want := reflect.TypeFor[T](); a.typ != want {
		return fmt.Errorf("%w: actor %s (class %q) is a %v, not a %v", ErrInvalidInput, id, a.class, a.typ, want)
	}
	h.a = a
	return nil
}

func (h *ActorHandle[T]) actorRef() *actor {
	if h == nil {
		return nil
	}
	return h.a
}

// address is the owner's address as the wire carries it.
func (t *refTable) address() *corepb.Address {
	return &corepb.Address{NodeId: t.node[:]}
}

// ownerRuntime is the runtime that owns what a wire form names: the one
// running in this process, if the owner address is its own.
func ownerRuntime(owner *corepb.Address, what string) (*Runtime, error) {
	node, err := NodeIDFromBytes(owner.GetNodeId())
	if err != nil {
		return nil, fmt.Errorf("%s: owner: %w", what, err)
	}
	rt := global.rt.Load()
	if rt == nil {
		return nil, fmt.Errorf("%w: %s: no runtime is running in this process", ErrShutdown, what)
	}
	if rt.store.refs.node != node {
		return nil, fmt.Errorf("%w: %s is owned by node %s, not by the runtime running here (node %s)",
			ErrInvalidInput, what, node, rt.store.refs.node)
	}
	return rt, nil
}

func marshalTagged(tag uint64, m proto.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return cborEnc.Marshal(cbor.Tag{Number: tag, Content: b})
}

func unmarshalTagged(b []byte, tag uint64, what string, m proto.Message) error {
	var raw cbor.RawTag
	if err := cborDec.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidInput, what, err)
	}
	if raw.Number != tag {
		return fmt.Errorf("%w: %s: CBOR tag %d, want %d", ErrInvalidInput, what, raw.Number, tag)
	}
	var payload []byte
	if err := cborDec.Unmarshal(raw.Content, &payload); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidInput, what, err)
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidInput, what, err)
	}
	return nil
}

// refHolder is a Ref of any type; actorHolder an *ActorHandle of any type.
type refHolder interface{ handle() *refHandle }
type actorHolder interface{ actorRef() *actor }

var (
	refHolderType   = reflect.TypeFor[refHolder]()
	actorHolderType = reflect.TypeFor[actorHolder]()
)

// isRefType reports whether t is a Ref, an *ActorHandle or an ActorHandle.
func isRefType(t reflect.Type) bool {
	if t.NumMethod() == 0 && t.Kind() != reflect.Struct {
		return false
	}
	if t.Implements(refHolderType) || t.Kind() == reflect.Pointer && t.Implements(actorHolderType) {
		return true
	}
	return t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(actorHolderType)
}

var refTypes sync.Map // reflect.Type -> bool

// mayHoldRefs reports whether a value of type t can hold a ref or an actor
// handle in what the codec encodes (exported fields, elements, map values,
// what pointers and interfaces point to).
func mayHoldRefs(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if v, ok := refTypes.Load(t); ok {
		return v.(bool)
	}
	// Exact for t itself; types met on a cycle may come out false, so
	// only t's answer is kept.
	b := holdsRefs(t, map[reflect.Type]bool{})
	refTypes.Store(t, b)
	return b
}

func holdsRefs(t reflect.Type, seen map[reflect.Type]bool) bool {
	if isRefType(t) {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return false
		}
		return holdsRefs(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if encodedField(f) && holdsRefs(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// encodedField reports whether CBOR encodes the field (or, for an embedded
// struct, its promoted fields).
func encodedField(f reflect.StructField) bool {
	return (f.IsExported() || f.Anonymous) && f.Name != "_" && f.Tag.Get("cbor") != "-"
}

// refWalk collects a value's refs and what its actor handles point to.
type refWalk struct {
	handles []*refHandle
	actors  []*actor
}

// objectsOf lists the objects of s the refs met point to; refs of another
// runtime are left out (they cannot be decoded here anyway).
func (w *refWalk) objectsOf(s *store) []*object {
	out := make([]*object, 0, len(w.handles))
	for _, h := range w.handles {
		if h.rt.store == s {
			out = append(out, h.obj)
		}
	}
	return out
}

// refsIn returns the objects and actors v's refs and handles point to
// (once per ref met, so an object referred to twice is listed twice).
func refsIn(v any) refWalk {
	var w refWalk
	if v != nil {
		w.value(reflect.ValueOf(v), 0)
	}
	return w
}

func (w *refWalk) value(v reflect.Value, depth int) {
	if !v.IsValid() || depth > MaxDecodeNesting {
		return
	}
	t := v.Type()
	if !mayHoldRefs(t) {
		return
	}
	if isRefType(t) {
		w.leaf(v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.value(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.value(v.Index(i), depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			w.value(it.Value(), depth+1)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if encodedField(t.Field(i)) {
				w.value(v.Field(i), depth+1)
			}
		}
	}
}

func (w *refWalk) leaf(v reflect.Value) {
	if !v.CanInterface() {
		return
	}
	if v.Kind() == reflect.Struct && !v.Type().Implements(refHolderType) { // an ActorHandle value
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	switch x := v.Interface().(type) {
	case refHolder:
		if h := x.handle(); h != nil && !h.released.Load() {
			w.handles = append(w.handles, h)
		}
	case actorHolder:
		if a := x.actorRef(); a != nil {
			w.actors = append(w.actors, a)
		}
	}
}

// pinArgs pins what encoded arguments refer to until the task that takes
// them finishes (Ray's submitted-task refs). It returns nil when they
// refer to nothing.
func pinArgs(types []reflect.Type, args []any) *pinSet {
	var w refWalk
	for i, t := range types {
		if i < len(args) && mayHoldRefs(t) {
			w.value(reflect.ValueOf(args[i]), 0)
		}
	}
	if len(w.handles) == 0 && len(w.actors) == 0 {
		return nil
	}
	p := &pinSet{actors: w.actors}
	if len(w.handles) > 0 {
		p.s = w.handles[0].rt.store
		p.objs = w.objectsOf(p.s)
		p.s.refs.pinSubmitted(p.objs)
	}
	return p
}
