package core

import (
	"errors"
	"sync"
	"testing"
)

// The owner's reference table as a state machine, driven directly: each
// transition frees exactly what no holder is left for.

func newTestStore(t *testing.T) *store {
	return newStore(1<<30, unlimitedSpill, t.TempDir())
}

var testPuts = submitter{n: new(idCounters)}

// held makes an object with one local handle (counted, no Go handle).
func held(t *testing.T, s *store) *object {
	obj, err := s.put(1, testPuts.nextPutID())
	if err != nil {
		t.Fatal(err)
	}
	obj.refs.Add(1)
	return obj
}

func wantFreed(t *testing.T, what string, obj *object, freed bool) {
	t.Helper()
	if obj.isFreed() != freed {
		t.Fatalf("%s: freed = %v, want %v", what, obj.isFreed(), freed)
	}
}

func TestRefTableBorrowers(t *testing.T) {
	s := newTestStore(t)
	obj := held(t, s)
	id, err := s.refs.export(obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"w1", "w1", "w2"} {
		if err := s.refs.addBorrower(id, addr); err != nil {
			t.Fatal(err)
		}
	}
	s.decRef(obj)
	wantFreed(t, "the owner let go, borrowers hold it", obj, false)
	for i, addr := range []string{"w1", "w1"} {
		if freed := s.refs.removeBorrower(id, addr); len(freed) != 0 {
			t.Fatalf("removal %d freed %d objects while w2 holds it", i, len(freed))
		}
	}
	s.refs.removeBorrower(id, "w1") // one report too many: ignored
	wantFreed(t, "w2 holds it", obj, false)
	if got, err := s.refs.borrow(id); err != nil || got != obj {
		t.Fatalf("a borrowed object decodes: %v", err)
	}
	s.decRef(obj)
	if freed := s.refs.removeBorrower(id, "w2"); len(freed) != 1 || freed[0] != obj {
		t.Fatalf("the last borrower's report freed %v", freed)
	}
	wantFreed(t, "no holder left", obj, true)
	if n := s.refs.tracked(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
	if err := s.refs.addBorrower(id, "w3"); !errors.Is(err, ErrObjectFreed) {
		t.Fatalf("a borrower registering for a freed object: %v", err)
	}
	if _, err := s.refs.borrow(id); !errors.Is(err, ErrObjectFreed) {
		t.Fatalf("decoding a freed object: %v", err)
	}
	if _, err := s.refs.borrow(PutObjectID(DriverTaskID(s.refs.job), 1<<20)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("decoding an ID never given out: %v", err)
	}
}

func TestRefTableSubmittedPins(t *testing.T) {
	s := newTestStore(t)
	obj := held(t, s)
	s.refs.pinSubmitted([]*object{obj, obj}) // two tasks take it
	s.decRef(obj)
	wantFreed(t, "two tasks hold it", obj, false)
	if freed := s.refs.unpinSubmitted([]*object{obj}); len(freed) != 0 {
		t.Fatal("freed while a task holds it")
	}
	s.dropAll(s.refs.unpinSubmitted([]*object{obj}))
	wantFreed(t, "both tasks finished", obj, true)
}

func TestRefTableNestedCascade(t *testing.T) {
	s := newTestStore(t)
	a, b, c, d := held(t, s), held(t, s), held(t, s), held(t, s)
	s.refs.nest(a, []*object{b, d}) // a holds b and d; b holds c
	s.refs.nest(b, []*object{c})
	s.refs.nest(a, []*object{c}) // recorded once: ignored
	for _, o := range []*object{b, c} {
		s.decRef(o)
	}
	wantFreed(t, "b, held by a", b, false)
	wantFreed(t, "c, held by b", c, false)
	s.decRef(a)
	for _, o := range []*object{a, b, c} {
		wantFreed(t, "a let go", o, true)
	}
	wantFreed(t, "d, still held by its own handle", d, false)
	s.decRef(d)
	wantFreed(t, "d let go", d, true)
	if n := s.refs.tracked(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

// An object being spilled (nest) while its last handle goes is freed once,
// and what it holds is never left pinned.
func TestRefTableNestRacesLastHandle(t *testing.T) {
	s := newTestStore(t)
	for i := range 2000 {
		outer, inner := held(t, s), held(t, s)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); s.refs.nest(outer, []*object{inner}) }()
		go func() { defer wg.Done(); s.decRef(outer) }()
		wg.Wait()
		s.decRef(inner)
		if !outer.isFreed() || !inner.isFreed() {
			t.Fatalf("round %d: outer freed %v, inner freed %v", i, outer.isFreed(), inner.isFreed())
		}
	}
	if n := s.refs.tracked(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}
