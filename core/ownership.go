package core

import (
	"fmt"
	"runtime"
	"sync"
	"weak"
)

// Ownership follows Ray's (reference_count.cc in Ray's core worker): the
// process that makes an object owns it and keeps its reference count;
// holders elsewhere are borrowers that register with the owner; the object
// is freed once no holder anywhere is left. An owner counts, per object:
//
//   - local handles: the Refs of this process (object.refs, one atomic; a
//     Go process notices a handle became unreachable through
//     runtime.AddCleanup, or is told by Release);
//   - submitted-task pins: tasks submitted with the ref inside an encoded
//     argument hold the object until they finish;
//   - contained-in pins: an object whose encoded value holds the ref (a
//     spilled value, a value on the wire) holds the inner object while it
//     lives itself;
//   - borrowers: other processes that decoded the ref and registered.
//
// Objects enter the owner's table only once a ref to them leaves its Go
// handles: when it is encoded, pinned by a submitted task or nested in an
// encoded value. Until then the atomic local count is the whole story, so
// a plain value pays nothing for the table; values in memory hold their
// nested refs as Go handles, which the garbage collector traces.
//
// refTable is that protocol as a synchronous state machine: each
// transition runs under one lock and returns the objects it freed (a
// freed object releases what it contained, so freeing cascades). The
// embedded runtime drives it from handles, task submission and spills; a
// cluster drives the same transitions from messages.
type refTable struct {
	node NodeID // the owner's address: every ref it encodes names it
	job  JobID

	mu      sync.Mutex
	objects map[ObjectID]*refEntry
	// gone remembers the IDs of the last objects freed out of the table
	// (up to goneCap), so that decoding one is ErrObjectFreed rather than
	// an unknown ID; goneRing is their order, oldest first from goneNext.
	gone     map[ObjectID]struct{}
	goneRing []ObjectID
	goneNext int
	actors   map[ActorID]weak.Pointer[actor]
	actorID  map[weak.Pointer[actor]]ActorID
}

// refEntry is what the owner knows of one object beyond its local handles.
type refEntry struct {
	obj         *object
	submitted   int            // pins by submitted tasks that carry the ref in an argument
	containedIn int            // pins by objects whose encoded value holds the ref
	borrowers   map[string]int // other processes holding it: address -> registrations
	contains    []*object      // objects this one's encoded value holds, pinned while it lives
	nested      bool           // contains was recorded (it is recorded once)
}

func (e *refEntry) pinned() bool {
	return e.submitted > 0 || e.containedIn > 0 || len(e.borrowers) > 0
}

func newRefTable() refTable {
	return refTable{node: NewNodeID(), job: localJob}
}

// goneCap bounds how many freed IDs the table remembers: an ID freed
// longer ago decodes as an unknown one.
const goneCap = 1 << 14

// rememberGoneLocked records that id's object was freed. Caller holds t.mu.
func (t *refTable) rememberGoneLocked(id ObjectID) {
	if t.gone == nil {
		t.gone = map[ObjectID]struct{}{}
	}
	if len(t.goneRing) < goneCap {
		t.goneRing = append(t.goneRing, id)
	} else {
		delete(t.gone, t.goneRing[t.goneNext])
		t.goneRing[t.goneNext] = id
		t.goneNext = (t.goneNext + 1) % goneCap
	}
	t.gone[id] = struct{}{}
}

// unknownLocked is the error for an ID not in the table: freed, if it
// was freed lately, else not one this runtime gave out. Caller holds t.mu.
func (t *refTable) unknownLocked(id ObjectID) error {
	if _, ok := t.gone[id]; ok {
		return fmt.Errorf("%w: object %s: no holder was left, so it was freed", ErrObjectFreed, id)
	}
	return fmt.Errorf("%w: no object %s in this runtime (not an ID it gave out, or freed long ago)", ErrInvalidInput, id)
}

// trackLocked returns obj's entry, making it, or nil once obj is freed.
// Caller holds t.mu. An object outside the table is freed without the
// lock (store.decRef); the freed and tracked flags share a word, so either
// the object is freed first and does not enter, or it enters first and
// the table decides when it is freed.
func (t *refTable) trackLocked(obj *object) *refEntry {
	if e := t.objects[obj.id]; e != nil {
		return e
	}
	if obj.flags.Or(objTracked)&objFreed != 0 {
		return nil
	}
	if t.objects == nil {
		t.objects = map[ObjectID]*refEntry{}
	}
	e := &refEntry{obj: obj}
	t.objects[obj.id] = e
	return e
}

// export puts obj in the table so that its ID can be decoded back to it.
// The caller holds a handle to it.
func (t *refTable) export(obj *object) (ObjectID, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := obj.id
	if t.trackLocked(obj) == nil {
		return id, fmt.Errorf("%w: object %s", ErrObjectFreed, id)
	}
	return id, nil
}

// borrow is the decoding side: it finds the object id names and counts a
// new local handle on it. An object no holder is left for is not revived.
func (t *refTable) borrow(id ObjectID) (*object, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.objects[id]
	if e == nil {
		return nil, t.unknownLocked(id)
	}
	if e.obj.isFreed() || e.obj.refs.Load() == 0 && !e.pinned() {
		return nil, fmt.Errorf("%w: object %s: no holder was left, so it was freed", ErrObjectFreed, id)
	}
	e.obj.refs.Add(1)
	return e.obj, nil
}

// released runs when obj's last local handle went and obj is in the table.
func (t *refTable) released(obj *object) []*object {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.freeIfUnheldLocked(t.objects[obj.id], nil)
}

// freeIfUnheldLocked frees e's object if nothing holds it any more, and
// whatever that leaves unheld in turn; it appends the freed objects to out.
func (t *refTable) freeIfUnheldLocked(e *refEntry, out []*object) []*object {
	work := []*refEntry{e}
	for len(work) > 0 {
		e := work[len(work)-1]
		work = work[:len(work)-1]
		if e == nil || e.pinned() || e.obj.refs.Load() != 0 || !e.obj.markFreedTracked() {
			continue
		}
		out = append(out, e.obj)
		work = t.forgetLocked(e, work)
	}
	return out
}

// forgetLocked drops a freed object's entry and its pins on the objects it
// contained, queueing those on work.
func (t *refTable) forgetLocked(e *refEntry, work []*refEntry) []*refEntry {
	delete(t.objects, e.obj.id)
	t.rememberGoneLocked(e.obj.id)
	for _, in := range e.contains {
		if ie := t.objects[in.id]; ie != nil && ie.containedIn > 0 {
			ie.containedIn--
			work = append(work, ie)
		}
	}
	e.contains = nil
	return work
}

// pinSubmitted counts a submitted task's hold on each object (the caller
// holds handles to them); unpinSubmitted drops it once the task finished.
func (t *refTable) pinSubmitted(objs []*object) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range objs {
		if e := t.trackLocked(o); e != nil {
			e.submitted++
		}
	}
}

func (t *refTable) unpinSubmitted(objs []*object) []*object {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*object
	for _, o := range objs {
		e := t.objects[o.id]
		if e == nil || e.submitted == 0 {
			continue
		}
		e.submitted--
		out = t.freeIfUnheldLocked(e, out)
	}
	return out
}

// nest records that outer's encoded value holds refs to inner: each is
// pinned while outer lives. It is recorded once per object; an outer freed
// meanwhile pins nothing.
func (t *refTable) nest(outer *object, inner []*object) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.trackLocked(outer)
	if e == nil || e.nested {
		return
	}
	e.nested = true
	for _, in := range inner {
		ie := t.trackLocked(in)
		if ie == nil {
			continue // released explicitly: nothing to keep
		}
		ie.containedIn++
		e.contains = append(e.contains, in)
	}
}

// addBorrower registers a process at addr as holding id's object (Ray's
// borrower registration: the owner keeps the object until the borrower
// reports it let go); removeBorrower is that report.
func (t *refTable) addBorrower(id ObjectID, addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.objects[id]
	if e == nil {
		return t.unknownLocked(id)
	}
	if e.obj.isFreed() {
		return fmt.Errorf("%w: object %s", ErrObjectFreed, id)
	}
	if e.borrowers == nil {
		e.borrowers = map[string]int{}
	}
	e.borrowers[addr]++
	return nil
}

func (t *refTable) removeBorrower(id ObjectID, addr string) []*object {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.objects[id]
	if e == nil || e.borrowers[addr] == 0 {
		return nil
	}
	if e.borrowers[addr]--; e.borrowers[addr] == 0 {
		delete(e.borrowers, addr)
	}
	return t.freeIfUnheldLocked(e, nil)
}

// tracked is how many objects are in the table.
func (t *refTable) tracked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.objects)
}

// exportActor gives a its wire ID. The table holds actors weakly: an actor
// no handle (and no pinning task) reaches any more is forgotten.
func (t *refTable) exportActor(a *actor) ActorID {
	wp := weak.Make(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.actorID[wp]; ok {
		return id
	}
	if t.actors == nil {
		t.actors = map[ActorID]weak.Pointer[actor]{}
		t.actorID = map[weak.Pointer[actor]]ActorID{}
	}
	id := a.id
	t.actors[id] = wp
	t.actorID[wp] = id
	runtime.AddCleanup(a, t.forgetActor, id)
	return id
}

func (t *refTable) forgetActor(id ActorID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if wp, ok := t.actors[id]; ok {
		delete(t.actorID, wp)
		delete(t.actors, id)
	}
}

// lookupActor finds the actor id names.
func (t *refTable) lookupActor(id ActorID) (*actor, error) {
	t.mu.Lock()
	wp, ok := t.actors[id]
	t.mu.Unlock()
	if a := wp.Value(); ok && a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("%w: no actor %s in this runtime (it was never handed out here, or it is gone)", ErrInvalidInput, id)
}

// pinSet is what a submitted task holds of its encoded arguments: the
// objects they refer to (counted as submitted-task pins) and the actors
// (kept reachable) until the task finishes.
type pinSet struct {
	s      *store
	objs   []*object
	actors []*actor
	once   sync.Once
}

// release drops the pins; it runs once.
func (p *pinSet) release() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		if len(p.objs) > 0 {
			p.s.dropAll(p.s.refs.unpinSubmitted(p.objs))
		}
		p.objs, p.actors = nil, nil
	})
}

// releaseWith releases p once obj (the task's result) is complete.
func (p *pinSet) releaseWith(obj *object) {
	if p == nil {
		return
	}
	obj.onDone(p.release)
}

// pinHolder keeps a pinSet for as long as the holder is reachable.
type pinHolder struct{ p *pinSet }

// holdWhileReachable returns a holder that releases p once the garbage
// collector finds it unreachable (nil when p is nil).
func (p *pinSet) holdWhileReachable() *pinHolder {
	if p == nil {
		return nil
	}
	h := &pinHolder{p: p}
	runtime.AddCleanup(h, (*pinSet).release, p)
	return h
}
