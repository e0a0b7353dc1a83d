package core_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

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
	setup(t) // a new runtime: the old one's IDs mean nothing here
	if _, err := core.DecodeAs[core.Ref[int]](b2); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("ref of a runtime that is gone: %v; want ErrInvalidInput", err)
	}
	if _, err := core.DecodeAs[*core.ActorHandle[*Tally]](hb); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("actor handle of a runtime that is gone: %v; want ErrInvalidInput", err)
	}
}
