package core_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// bothModes runs f on a runtime that passes values in process and on one
// that encodes every argument, result and Put (WithEncodeAll). With
// GORAY_ENCODE_ALL=1 both runtimes encode.
func bothModes(t *testing.T, f func(t *testing.T, ctx context.Context)) {
	t.Helper()
	t.Run("in-process", func(t *testing.T) {
		if os.Getenv("GORAY_ENCODE_ALL") == "1" {
			t.Skip("GORAY_ENCODE_ALL=1: every runtime encodes")
		}
		f(t, setup(t, core.WithNumCPUs(4)))
	})
	t.Run("encode-all", func(t *testing.T) {
		f(t, setup(t, core.WithNumCPUs(4), core.WithEncodeAll()))
	})
}

// encodeAll reports whether the test runs in encode-all mode.
func encodeAll(t *testing.T) bool {
	return os.Getenv("GORAY_ENCODE_ALL") == "1" || strings.HasSuffix(t.Name(), "/encode-all")
}

// Holder keeps a ref inside a value, as a field.
type Holder struct {
	Name  string
	Inner core.Ref[[]byte]
}

type Tally struct{ n int }

var (
	refPlusOne = core.Func1("test.refs.plusOne", func(ctx context.Context, r core.Ref[int]) (int, error) {
		v, err := core.Get(ctx, r)
		return v + 1, err
	})
	putDouble = core.Func1("test.refs.putDouble", func(ctx context.Context, x int) (core.Ref[int], error) {
		return core.Put(ctx, 2*x)
	})
	sumRefs = core.Func1("test.refs.sumRefs", func(ctx context.Context, rs []core.Ref[int]) (int, error) {
		vs, err := core.GetAll(ctx, rs)
		s := 0
		for _, v := range vs {
			s += v
		}
		return s, err
	})
	holderLen = core.Func1("test.refs.holderLen", func(ctx context.Context, h Holder) (int, error) {
		b, err := core.Get(ctx, h.Inner)
		return len(b), err
	})
	tallyClass = core.Actor0("test.refs.Tally", func(ctx context.Context) (*Tally, error) { return &Tally{}, nil })
	tallyAdd   = core.Method1("test.refs.Tally.Add", func(c *Tally, ctx context.Context, x int) (int, error) {
		c.n += x
		return c.n, nil
	})
	addThroughHandle = core.Func2("test.refs.addThroughHandle", func(ctx context.Context, h *core.ActorHandle[*Tally], x int) (int, error) {
		return core.Get(ctx, tallyAdd.Remote(ctx, h, x))
	})
)

// A Ref is a value: it travels as a task argument, comes back as a task
// result, and sits inside structs and slices, and it still reads where it
// arrives.
func TestRefsTravel(t *testing.T) {
	bothModes(t, func(t *testing.T, ctx context.Context) {
		x, err := core.Put(ctx, 41)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := core.Get(ctx, refPlusOne.Remote(ctx, x)); err != nil || v != 42 {
			t.Fatalf("ref as a task argument: %v, %v; want 42", v, err)
		}
		if encoded := core.ObjectStoreStats().OwnedRefs > 0; encoded != encodeAll(t) {
			t.Fatalf("the ref went through its wire form: %v, want %v (encode-all mode)", encoded, encodeAll(t))
		}

		outer, err := core.Get(ctx, putDouble.Remote(ctx, 21))
		if err != nil {
			t.Fatalf("task returning a ref: %v", err)
		}
		if v, err := core.Get(ctx, outer); err != nil || v != 42 {
			t.Fatalf("ref returned from a task: %v, %v; want 42", v, err)
		}

		var rs []core.Ref[int]
		for i := range 5 {
			r, err := core.Put(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		rs = append(rs, refPlusOne.Remote(ctx, x)) // a pending ref in the slice
		if v, err := core.Get(ctx, sumRefs.Remote(ctx, rs)); err != nil || v != 0+1+2+3+4+42 {
			t.Fatalf("[]Ref as a task argument: %v, %v; want 52", v, err)
		}

		inner, err := core.Put(ctx, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		hr, err := core.Put(ctx, Holder{Name: "h", Inner: inner})
		if err != nil {
			t.Fatalf("Put of a struct holding a ref: %v", err)
		}
		h, err := core.Get(ctx, hr)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := core.Get(ctx, h.Inner); err != nil || string(b) != "payload" {
			t.Fatalf("ref read out of a stored struct: %q, %v", b, err)
		}
		if n, err := core.Get(ctx, holderLen.Remote(ctx, h)); err != nil || n != len("payload") {
			t.Fatalf("struct holding a ref as a task argument: %v, %v", n, err)
		}
	})
}

// An actor handle is a value too: a task that receives one calls the
// actor's methods through it.
func TestActorHandleTravels(t *testing.T) {
	bothModes(t, func(t *testing.T, ctx context.Context) {
		h, err := tallyClass.Remote(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := core.Get(ctx, tallyAdd.Remote(ctx, h, 1)); err != nil {
			t.Fatal(err)
		}
		if v, err := core.Get(ctx, addThroughHandle.Remote(ctx, h, 10)); err != nil || v != 11 {
			t.Fatalf("method called through a handle passed to a task: %v, %v; want 11", v, err)
		}
		if v, err := core.Get(ctx, tallyAdd.Remote(ctx, h, 100)); err != nil || v != 111 {
			t.Fatalf("the task reached another actor: %v, %v; want 111", v, err)
		}
	})
}

// Types holding refs and actor handles are encodable, and a ref's wire
// form decodes back to a ref to the same object.
func TestRefWireForm(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[core.Ref[int]](),
		reflect.TypeFor[[]core.Ref[int]](),
		reflect.TypeFor[Holder](),
		reflect.TypeFor[map[string]core.Ref[Holder]](),
		reflect.TypeFor[*core.ActorHandle[*Tally]](),
		reflect.TypeFor[struct{ H *core.ActorHandle[*Tally] }](),
	} {
		if err := core.CheckEncodable(typ); err != nil {
			t.Errorf("CheckEncodable(%v): %v", typ, err)
		}
	}
	ctx := setup(t)
	r, err := core.Put(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := core.DecodeAs[core.Ref[int]](b)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != r.ID() {
		t.Fatalf("decoded %s, want %s", back.ID(), r.ID())
	}
	if v, err := core.Get(ctx, back); err != nil || v != 7 {
		t.Fatalf("decoded ref reads %v, %v", v, err)
	}
	var zero core.Ref[int]
	if b, err := core.Encode(zero); err != nil {
		t.Fatalf("zero Ref: %v", err)
	} else if z, err := core.DecodeAs[core.Ref[int]](b); err != nil || z.Valid() {
		t.Fatalf("zero Ref came back as %v, %v", z.ID(), err)
	}
}

// Decoding a ref or actor handle the runtime does not know is an error
// naming the ID, never a panic or a dangling ref.
func TestDecodeUnknownRef(t *testing.T) {
	ctx := setup(t)
	r, err := core.Put(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	id := r.ObjectID()

	// An object ID this runtime never made.
	bad := append([]byte(nil), b...)
	i := strings.Index(string(bad), string(id[:]))
	if i < 0 {
		t.Fatalf("the wire form %x does not hold the object ID %s", b, id)
	}
	bad[i+1] ^= 0xff
	_, err = core.DecodeAs[core.Ref[int]](bad)
	if !errors.Is(err, core.ErrInvalidInput) || errors.Is(err, core.ErrObjectFreed) {
		t.Fatalf("unknown ID: %v; want ErrInvalidInput", err)
	}

	// A freed object.
	r.Release()
	_, err = core.DecodeAs[core.Ref[int]](b)
	if !errors.Is(err, core.ErrObjectFreed) || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("freed object: %v; want ErrObjectFreed naming %s", err, id)
	}

	// Garbage and a ref from another runtime.
	for _, in := range [][]byte{{0x01}, {0x43, 1, 2, 3}, b[:len(b)-3]} {
		if _, err := core.DecodeAs[core.Ref[int]](in); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("decode %x: %v; want ErrInvalidInput", in, err)
		}
	}
	r2, err := core.Put(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := core.Encode(r2)
	if err != nil {
		t.Fatal(err)
	}
	h, err := tallyClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := core.Encode(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.DecodeAs[*core.ActorHandle[*Holder]](hb); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("actor handle decoded as the wrong type: %v; want ErrInvalidInput", err)
	}
	if back, err := core.DecodeAs[*core.ActorHandle[*Tally]](hb); err != nil || back.Class() != "test.refs.Tally" {
		t.Fatalf("actor handle: %v", err)
	}
	// An actor ID this runtime never gave out: the ID follows the
	// protobuf field header 0x0a 0x10 (field 1, 16 bytes).
	badActor := append([]byte(nil), hb...)
	j := strings.Index(string(badActor), "\x0a\x10")
	if j < 0 {
		t.Fatalf("the wire form %x does not hold an actor ID", hb)
	}
	badActor[j+2] ^= 0xff
	if _, err := core.DecodeAs[*core.ActorHandle[*Tally]](badActor); !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "no actor") {
		t.Errorf("unknown actor ID: %v; want ErrInvalidInput naming it", err)
	}
	// Every truncation and every single-bit change of a valid wire form
	// decodes to an error or to a handle, never a panic.
	for _, valid := range [][]byte{b2, hb} {
		for n := range len(valid) {
			_, _ = core.DecodeAs[core.Ref[int]](valid[:n])
			_, _ = core.DecodeAs[*core.ActorHandle[*Tally]](valid[:n])
		}
		for i := range len(valid) * 8 {
			in := append([]byte(nil), valid...)
			in[i/8] ^= 1 << (i % 8)
			_, _ = core.DecodeAs[core.Ref[int]](in)
			_, _ = core.DecodeAs[*core.ActorHandle[*Tally]](in)
		}
	}
	setup(t) // a new runtime: the old one's IDs mean nothing here
	if _, err := core.DecodeAs[core.Ref[int]](b2); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("ref of a runtime that is gone: %v; want ErrInvalidInput", err)
	}
	if _, err := core.DecodeAs[*core.ActorHandle[*Tally]](hb); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("actor handle of a runtime that is gone: %v; want ErrInvalidInput", err)
	}
}

// Counting live objects. Payloads are large enough (>= 100 KiB) to be in
// the store's books (StoreStats.Objects); a handle let go by dropping it is
// noticed by the garbage collector, so checks run runtime.GC in a loop
// bounded by count and by the test's context.

const payloadSize = 200 << 10

func payload(tag byte) []byte {
	b := make([]byte, payloadSize)
	for i := range b {
		b[i] = tag + byte(i)
	}
	return b
}

func livePayloads() int { return core.ObjectStoreStats().Objects }

// stillLive fails unless n objects stay in the books through a few
// collections.
func stillLive(t *testing.T, n int, when string) {
	t.Helper()
	for range 4 {
		runtime.GC()
		time.Sleep(2 * time.Millisecond)
		if got := livePayloads(); got != n {
			t.Fatalf("%s: %d objects live, want %d (freed too early): %+v", when, got, n, core.ObjectStoreStats())
		}
	}
}

// eventuallyLive fails unless the books come down to n objects, and the
// owner's table to owned entries.
func eventuallyLive(t *testing.T, ctx context.Context, n, owned int, when string) {
	t.Helper()
	for i := 0; i < 500 && ctx.Err() == nil; i++ {
		runtime.GC()
		if st := core.ObjectStoreStats(); st.Objects == n && st.OwnedRefs == owned {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: %+v, want %d objects and %d owned refs", when, core.ObjectStoreStats(), n, owned)
}

// refGates lets a test hold a task at a point and let it go.
var refGates sync.Map // int -> *refGate

type refGate struct{ entered, release chan struct{} }

var gateSeq atomic.Int64

func newGate() (int, *refGate) {
	id := int(gateSeq.Add(1))
	g := &refGate{entered: make(chan struct{}), release: make(chan struct{})}
	refGates.Store(id, g)
	return id, g
}

// keepThenRead takes a ref, holds it until its gate opens, then reads it.
var keepThenRead = core.Func2("test.refs.keepThenRead", func(ctx context.Context, r core.Ref[[]byte], gateID int) (int, error) {
	g, _ := refGates.Load(gateID)
	close(g.(*refGate).entered)
	select {
	case <-g.(*refGate).release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	b, err := core.Get(ctx, r)
	return len(b), err
})

// The Ray ownership rule: an object shared by several holders (here the
// driver's ref, a ref nested in a value in the store and a ref passed to
// a running task) is freed when the last one lets go, whichever it is,
// and not before.
func TestSharedObjectFreedWithLastHolder(t *testing.T) {
	for _, last := range []string{"task", "outer", "driver"} {
		t.Run("last="+last, func(t *testing.T) {
			bothModes(t, func(t *testing.T, ctx context.Context) {
				sharedObjectFreedWithLast(t, ctx, last)
			})
		})
	}
}

func sharedObjectFreedWithLast(t *testing.T, ctx context.Context, last string) {
	if n := livePayloads(); n != 0 {
		t.Fatalf("a new runtime has %d objects", n)
	}
	h := struct {
		driver core.Ref[[]byte]
		outer  core.Ref[Holder]
		result core.Ref[int]
	}{}
	var err error
	if h.driver, err = core.Put(ctx, payload(1)); err != nil {
		t.Fatal(err)
	}
	if h.outer, err = core.Put(ctx, Holder{Name: "outer", Inner: h.driver}); err != nil {
		t.Fatal(err)
	}
	id, g := newGate()
	h.result = keepThenRead.Remote(ctx, h.driver, id)
	select {
	case <-g.entered:
	case <-ctx.Done():
		t.Fatal("the task did not start")
	}
	letGo := map[string]func(){
		"driver": func() { h.driver = core.Ref[[]byte]{} },
		"outer":  func() { h.outer.Release() },
		"task": func() {
			close(g.release)
			if n, err := core.Get(ctx, h.result); err != nil || n != payloadSize {
				t.Fatalf("the task read %d bytes, %v; want %d", n, err, payloadSize)
			}
			h.result = core.Ref[int]{}
		},
	}
	for _, who := range []string{"driver", "outer", "task"} {
		if who != last {
			letGo[who]()
			stillLive(t, 1, who+" let go")
		}
	}
	if last != "task" {
		// The one holder left can still read it.
		var b []byte
		if last == "driver" {
			b, err = core.Get(ctx, h.driver)
		} else {
			var v Holder
			if v, err = core.Get(ctx, h.outer); err == nil {
				b, err = core.Get(ctx, v.Inner)
			}
		}
		if err != nil || len(b) != payloadSize || b[1] != 2 {
			t.Fatalf("%s, the last holder, reads %d bytes, %v", last, len(b), err)
		}
	}
	letGo[last]()
	eventuallyLive(t, ctx, 0, 0, "every holder let go")
}

type BigHolder struct {
	Pad   []byte
	Inner core.Ref[[]byte]
}

var refHolderSize = core.Func1("test.refs.holderSize", func(ctx context.Context, h BigHolder) (int, error) {
	b, err := core.Get(ctx, h.Inner)
	return len(h.Pad) + len(b), err
})

// A ref nested in a value keeps its object alive as long as the outer
// object lives, also once the outer value is spilled to disk (where the
// ref is bytes, not a Go handle), and the inner object goes with it.
func TestNestedRefFreedWithOuter(t *testing.T) {
	for _, budget := range []int64{0, 1} {
		name := map[int64]string{0: "in-memory", 1: "spilled"}[budget]
		t.Run(name, func(t *testing.T) {
			for _, mode := range []bool{false, true} {
				if !mode && os.Getenv("GORAY_ENCODE_ALL") == "1" {
					continue
				}
				opts := []core.InitOption{core.WithNumCPUs(2)}
				if budget > 0 {
					opts = append(opts, core.WithMemoryBudget(budget)) // every large value goes to disk
				}
				if mode {
					opts = append(opts, core.WithEncodeAll())
				}
				ctx := setup(t, opts...)
				nestedRefFreedWithOuter(t, ctx, budget > 0)
			}
		})
	}
}

func nestedRefFreedWithOuter(t *testing.T, ctx context.Context, spilled bool) {
	var outer core.Ref[BigHolder]
	func() {
		inner, err := core.Put(ctx, payload(3))
		if err != nil {
			t.Fatal(err)
		}
		if outer, err = core.Put(ctx, BigHolder{Pad: payload(4), Inner: inner}); err != nil {
			t.Fatal(err)
		}
	}()
	if spilled {
		if st := core.ObjectStoreStats(); st.SpilledFiles != 2 {
			t.Fatalf("want both values on disk: %+v", st)
		}
	}
	// Only the outer object holds the inner one now.
	stillLive(t, 2, "the inner ref's first holder let go")
	if n, err := core.Get(ctx, refHolderSize.Remote(ctx, mustGet(t, ctx, outer))); err != nil || n != 2*payloadSize {
		t.Fatalf("reading through the nested ref: %d, %v", n, err)
	}
	stillLive(t, 2, "after a read")
	outer.Release()
	eventuallyLive(t, ctx, 0, 0, "the outer object was released")
	if st := core.ObjectStoreStats(); st.SpilledFiles != 0 {
		t.Fatalf("spill files left: %+v", st)
	}
}

func mustGet[T any](t *testing.T, ctx context.Context, r core.Ref[T]) T {
	t.Helper()
	v, err := core.Get(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var putPayload = core.Func1("test.refs.putPayload", func(ctx context.Context, tag byte) (core.Ref[[]byte], error) {
	return core.Put(ctx, payload(tag))
})

// A ref a task returns keeps the object it names alive through the
// task's result: the task's own handle is gone once it returned.
func TestReturnedRefKeepsInnerAlive(t *testing.T) {
	bothModes(t, func(t *testing.T, ctx context.Context) {
		outer := putPayload.Remote(ctx, 5)
		if _, _, err := core.Wait(ctx, []core.Ref[core.Ref[[]byte]]{outer}, core.WaitOptions{}); err != nil {
			t.Fatal(err)
		}
		stillLive(t, 1, "the task returned")
		b, err := core.Get(ctx, mustGet(t, ctx, outer))
		if err != nil || len(b) != payloadSize || b[0] != 5 {
			t.Fatalf("reading the returned ref: %d bytes, %v", len(b), err)
		}
		stillLive(t, 1, "after a read")
		outer.Release()
		eventuallyLive(t, ctx, 0, 0, "the result was released")
	})
}

var holdCPU = core.Func1("test.refs.holdCPU", func(ctx context.Context, gateID int) (int, error) {
	g, _ := refGates.Load(gateID)
	close(g.(*refGate).entered)
	select {
	case <-g.(*refGate).release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return 0, nil
})

// A ref passed to a task that has not started yet (it waits for a CPU)
// keeps its object alive: the submitted task holds it until it finishes.
func TestQueuedTaskHoldsItsRefArgument(t *testing.T) {
	bothModes(t, func(t *testing.T, ctx context.Context) {
		blockID, block := newGate()
		busy := holdCPU.Options(core.NumCPUs(4)).Remote(ctx, blockID) // every CPU of the runtime
		<-block.entered
		keepID, keep := newGate()
		close(keep.release)
		var result core.Ref[int]
		func() {
			r, err := core.Put(ctx, payload(6))
			if err != nil {
				t.Fatal(err)
			}
			result = keepThenRead.Remote(ctx, r, keepID)
		}()
		stillLive(t, 1, "the driver let go while the task waits for a CPU")
		close(block.release)
		if _, err := core.Get(ctx, busy); err != nil {
			t.Fatal(err)
		}
		if n, err := core.Get(ctx, result); err != nil || n != payloadSize {
			t.Fatalf("the task read %d bytes, %v", n, err)
		}
		result = core.Ref[int]{}
		eventuallyLive(t, ctx, 0, 0, "the task finished")
	})
}

// Keeper is an actor that keeps refs: one from its constructor, more from
// method calls.
type Keeper struct{ refs []core.Ref[[]byte] }

var (
	keeperClass = core.Actor1("test.refs.Keeper", func(ctx context.Context, r core.Ref[[]byte]) (*Keeper, error) {
		return &Keeper{refs: []core.Ref[[]byte]{r}}, nil
	})
	keeperAdd = core.Method1("test.refs.Keeper.Add", func(k *Keeper, ctx context.Context, r core.Ref[[]byte]) (int, error) {
		k.refs = append(k.refs, r)
		return len(k.refs), nil
	})
	keeperBytes = core.Method0("test.refs.Keeper.Bytes", func(k *Keeper, ctx context.Context) (int, error) {
		n := 0
		for _, r := range k.refs {
			b, err := core.Get(ctx, r)
			if err != nil {
				return 0, err
			}
			n += len(b)
		}
		return n, nil
	})
)

// Refs given to an actor's constructor and methods live as long as the
// actor keeps them, and go with it.
func TestActorKeepsRefs(t *testing.T) {
	bothModes(t, func(t *testing.T, ctx context.Context) {
		var h *core.ActorHandle[*Keeper]
		func() {
			a, err := core.Put(ctx, payload(7))
			if err != nil {
				t.Fatal(err)
			}
			b, err := core.Put(ctx, payload(8))
			if err != nil {
				t.Fatal(err)
			}
			if h, err = keeperClass.Remote(ctx, a); err != nil {
				t.Fatal(err)
			}
			if n, err := core.Get(ctx, keeperAdd.Remote(ctx, h, b)); err != nil || n != 2 {
				t.Fatalf("Add: %v, %v", n, err)
			}
		}()
		stillLive(t, 2, "the driver let go of both refs")
		if n, err := core.Get(ctx, keeperBytes.Remote(ctx, h)); err != nil || n != 2*payloadSize {
			t.Fatalf("the actor reads %d bytes, %v", n, err)
		}
		if err := core.KillAndWait(ctx, h); err != nil {
			t.Fatal(err)
		}
		h = nil
		eventuallyLive(t, ctx, 0, 0, "the actor is gone")
	})
}
