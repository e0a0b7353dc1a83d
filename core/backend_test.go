package core

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// recorder is a second backend: it counts every operation it receives,
// noting those made from inside a task or actor, and hands each to the
// embedded runtime it fronts. A package-level call that reaches the
// runtime without passing through it bypasses the seam.
type recorder struct {
	backend // the embedded runtime
	mu      sync.Mutex
	calls   map[string]int
	inside  map[string]int // made with the context of a task or an actor call
}

func (r *recorder) note(ctx context.Context, op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[op]++
	if ctx != nil && holderFromContext(ctx) != nil {
		r.inside[op]++
	}
}

func (r *recorder) count(op string) (all, inside int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[op], r.inside[op]
}

func (r *recorder) submitTask(ctx context.Context, c taskCall) *refHandle {
	r.note(ctx, "submitTask")
	return r.backend.submitTask(ctx, c)
}
func (r *recorder) createActor(ctx context.Context, c actorSpawn) (*actor, error) {
	r.note(ctx, "createActor")
	return r.backend.createActor(ctx, c)
}
func (r *recorder) callMethod(ctx context.Context, c methodCall) *refHandle {
	r.note(ctx, "callMethod")
	return r.backend.callMethod(ctx, c)
}
func (r *recorder) put(ctx context.Context, id ObjectID, v any) (*refHandle, error) {
	r.note(ctx, "put")
	return r.backend.put(ctx, id, v)
}
func (r *recorder) getRef(ctx context.Context, h *refHandle) (any, error) {
	r.note(ctx, "get")
	return r.backend.getRef(ctx, h)
}
func (r *recorder) waitRefs(ctx context.Context, hs []*refHandle, n int, timeout time.Duration) ([]bool, error) {
	r.note(ctx, "wait")
	return r.backend.waitRefs(ctx, hs, n, timeout)
}
func (r *recorder) free(h *refHandle) {
	r.note(nil, "free")
	r.backend.free(h)
}
func (r *recorder) cancelRef(obj *object, c cancelConfig) error {
	r.note(nil, "cancel")
	return r.backend.cancelRef(obj, c)
}
func (r *recorder) kill(a *actor, c killConfig) error {
	r.note(nil, "kill")
	return r.backend.kill(a, c)
}
func (r *recorder) lookupActor(ns, name string) (*actor, error) {
	r.note(nil, "lookupActor")
	return r.backend.lookupActor(ns, name)
}
func (r *recorder) resources() (total, available map[string]float64) {
	r.note(nil, "resources")
	return r.backend.resources()
}
func (r *recorder) storeStats() StoreStats {
	r.note(nil, "storeStats")
	return r.backend.storeStats()
}
func (r *recorder) shutdown(wait bool) <-chan struct{} {
	r.note(nil, "shutdown")
	return r.backend.shutdown(wait)
}

// useRecorder makes a recorder over a new embedded runtime the default
// backend, as Init makes the embedded one.
func useRecorder(t *testing.T, opts ...InitOption) *recorder {
	t.Helper()
	Shutdown()
	rt, err := newRuntime(opts...)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{backend: rt, calls: map[string]int{}, inside: map[string]int{}}
	rt.front = rec
	global.mu.Lock()
	global.rt.Store(rt)
	global.down = false
	global.mu.Unlock()
	t.Cleanup(Shutdown)
	return rec
}

type seamBox struct{ n int }

var (
	seamF0  = Func0("seam.f0", func(ctx context.Context) (int, error) { return 0, nil })
	seamF1  = Func1("seam.f1", func(ctx context.Context, a int) (int, error) { return a, nil })
	seamF2  = Func2("seam.f2", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
	seamF3  = Func3("seam.f3", func(ctx context.Context, a, b, c int) (int, error) { return a + b + c, nil })
	seamF4  = Func4("seam.f4", func(ctx context.Context, a, b, c, d int) (int, error) { return a + b + c + d, nil })
	seamF2x = Func1x2("seam.f1x2", func(ctx context.Context, a int) (int, int, error) { return a, -a, nil })
	seamFN  = Func1xN("seam.f1xN", func(ctx context.Context, a int) ([]int, error) { return []int{a, a, a}, nil })
	seamG1  = Gen1("seam.g1", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	// seamNested submits a task and puts a value from inside a task: both
	// must reach the backend of the task's runtime.
	seamNested = Func1("seam.nested", func(ctx context.Context, a int) (int, error) {
		r, err := Put(ctx, a)
		if err != nil {
			return 0, err
		}
		return Get(ctx, seamF1.RemoteArgs(ctx, r))
	})
	seamSleep = Func0("seam.sleep", func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	seamA0 = Actor0("seam.A0", func(ctx context.Context) (*seamBox, error) { return &seamBox{}, nil })
	seamA1 = Actor1("seam.A1", func(ctx context.Context, a int) (*seamBox, error) { return &seamBox{a}, nil })
	seamA2 = Actor2("seam.A2", func(ctx context.Context, a, b int) (*seamBox, error) { return &seamBox{a + b}, nil })
	seamA3 = Actor3("seam.A3", func(ctx context.Context, a, b, c int) (*seamBox, error) { return &seamBox{a + b + c}, nil })
	seamM0 = Method0("seam.M0", func(s *seamBox, ctx context.Context) (int, error) { return s.n, nil })
	seamM1 = Method1("seam.M1", func(s *seamBox, ctx context.Context, a int) (int, error) { s.n += a; return s.n, nil })
	seamM2 = Method2("seam.M2", func(s *seamBox, ctx context.Context, a, b int) (int, error) { s.n += a + b; return s.n, nil })
	seamM3 = Method3("seam.M3", func(s *seamBox, ctx context.Context, a, b, c int) (int, error) {
		s.n += a + b + c
		return s.n, nil
	})
	seamM1x2 = Method1x2("seam.M1x2", func(s *seamBox, ctx context.Context, a int) (int, int, error) { return a, -a, nil })
	seamGM1  = GenMethod1("seam.GM1", func(s *seamBox, ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	// seamInActor submits a task from inside an actor call.
	seamInActor = Method1("seam.InActor", func(s *seamBox, ctx context.Context, a int) (int, error) {
		return Get(ctx, seamF1.Remote(ctx, a))
	})
)

// Every package-level operation goes through the backend Init chose: a
// second backend put in the embedded runtime's place receives each one,
// including those made from inside tasks and actor calls, in both the
// embedded fast path and the by-name (encode-all) path.
func TestEveryCallGoesThroughTheBackend(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []InitOption
	}{
		{"embedded", nil},
		{"encode-all", []InitOption{WithEncodeAll()}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			rec := useRecorder(t, append([]InitOption{WithNumCPUs(4)}, mode.opts...)...)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()

			// through asserts that f made op reach the backend (from
			// inside a task or actor call, with inside).
			through := func(what, op string, inside bool, f func() error) {
				t.Helper()
				all0, in0 := rec.count(op)
				if err := f(); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				all1, in1 := rec.count(op)
				if all1 == all0 {
					t.Errorf("%s did not reach the backend's %s", what, op)
				}
				if inside && in1 == in0 {
					t.Errorf("%s: the %s made inside a task or actor call did not reach the backend", what, op)
				}
			}
			get := func(r Ref[int], want int) error {
				v, err := Get(ctx, r)
				if err == nil && v != want {
					err = errors.New("wrong value")
				}
				return err
			}

			through("Func0.Remote", "submitTask", false, func() error { return get(seamF0.Remote(ctx), 0) })
			through("Func1.Remote", "submitTask", false, func() error { return get(seamF1.Remote(ctx, 1), 1) })
			through("Func2.Remote", "submitTask", false, func() error { return get(seamF2.Remote(ctx, 1, 2), 3) })
			through("Func3.Remote", "submitTask", false, func() error { return get(seamF3.Remote(ctx, 1, 2, 3), 6) })
			through("Func4.Remote", "submitTask", false, func() error { return get(seamF4.Remote(ctx, 1, 2, 3, 4), 10) })
			through("Func1x2.Remote", "submitTask", false, func() error {
				a, b := seamF2x.Remote(ctx, 5)
				if err := get(a, 5); err != nil {
					return err
				}
				return get(b, -5)
			})
			through("Func1xN.Remote", "submitTask", false, func() error {
				rs := seamFN.Options(NumReturns(3)).Remote(ctx, 7)
				_, err := GetAll(ctx, rs)
				return err
			})
			through("Gen1.Remote", "submitTask", false, func() error {
				n := 0
				for r, err := range seamG1.Remote(ctx, 3).All(ctx) {
					if err != nil {
						return err
					}
					if err := get(r, n); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			through("Call", "submitTask", false, func() error {
				_, err := Get(ctx, Call(ctx, "seam.f1", 4))
				return err
			})
			through("a task's Remote", "submitTask", true, func() error { return get(seamNested.Remote(ctx, 8), 8) })
			through("a task's Put", "put", true, func() error { return get(seamNested.Remote(ctx, 9), 9) })
			through("a task's Get", "get", true, func() error { return get(seamNested.Remote(ctx, 10), 10) })

			var x Ref[int]
			through("Put", "put", false, func() (err error) { x, err = Put(ctx, 11); return err })
			through("Get", "get", false, func() error { return get(x, 11) })
			through("RemoteArgs", "submitTask", false, func() error { return get(seamF1.RemoteArgs(ctx, x), 11) })
			through("Wait", "wait", false, func() error {
				ready, _, err := Wait(ctx, []Ref[int]{x}, WaitOptions{NumReturns: 1})
				if err == nil && len(ready) != 1 {
					err = errors.New("not ready")
				}
				return err
			})
			through("Release", "free", false, func() error { x.Release(); return nil })

			through("Cancel", "cancel", false, func() error {
				r := seamSleep.Remote(ctx)
				if err := Cancel(r); err != nil {
					return err
				}
				if _, err := Get(ctx, r); !errors.Is(err, ErrTaskCancelled) {
					return errors.New("not cancelled")
				}
				return nil
			})
			through("Generator.Cancel", "cancel", false, func() error { return seamG1.Remote(ctx, 1).Cancel() })

			var h0 *ActorHandle[*seamBox]
			through("Actor0.Remote", "createActor", false, func() (err error) {
				h0, err = seamA0.Options(Name("seam-box")).Remote(ctx)
				return err
			})
			through("Actor1.Remote", "createActor", false, func() error { _, err := seamA1.Remote(ctx, 1); return err })
			through("Actor2.Remote", "createActor", false, func() error { _, err := seamA2.Remote(ctx, 1, 2); return err })
			through("Actor3.Remote", "createActor", false, func() error { _, err := seamA3.Remote(ctx, 1, 2, 3); return err })
			through("Method0.Remote", "callMethod", false, func() error { return get(seamM0.Remote(ctx, h0), 0) })
			through("Method1.Remote", "callMethod", false, func() error { return get(seamM1.Remote(ctx, h0, 1), 1) })
			through("Method2.Remote", "callMethod", false, func() error { return get(seamM2.Remote(ctx, h0, 1, 1), 3) })
			through("Method3.Remote", "callMethod", false, func() error { return get(seamM3.Remote(ctx, h0, 1, 1, 1), 6) })
			through("Method1x2.Remote", "callMethod", false, func() error {
				a, b := seamM1x2.Remote(ctx, h0, 4)
				if err := get(a, 4); err != nil {
					return err
				}
				return get(b, -4)
			})
			through("GenMethod1.Remote", "callMethod", false, func() error {
				n := 0
				for r, err := range seamGM1.Remote(ctx, h0, 3).All(ctx) {
					if err != nil {
						return err
					}
					if err := get(r, n); err != nil {
						return err
					}
					n++
				}
				if n != 3 {
					return errors.New("generator method yielded " + string(rune('0'+n)) + " values, want 3")
				}
				return nil
			})
			through("Method1.RemoteArgs", "callMethod", false, func() error {
				y, err := Put(ctx, 1)
				if err != nil {
					return err
				}
				return get(seamM1.RemoteArgs(ctx, h0, y), 7)
			})
			through("an actor call's Remote", "submitTask", true, func() error { return get(seamInActor.Remote(ctx, h0, 2), 2) })
			through("GetActor", "lookupActor", false, func() error {
				h, err := GetActor[*seamBox](ctx, "seam-box")
				if err == nil && h.Class() != "seam.A0" {
					err = errors.New("wrong actor")
				}
				return err
			})
			through("Kill", "kill", false, func() error { return Kill(h0) })
			through("KillAndWait", "kill", false, func() error {
				h, err := seamA0.Remote(ctx)
				if err != nil {
					return err
				}
				return KillAndWait(ctx, h)
			})

			through("ClusterResources", "resources", false, func() error {
				if ClusterResources()["CPU"] != 4 {
					return errors.New("wrong CPU count")
				}
				return nil
			})
			through("AvailableResources", "resources", false, func() error { AvailableResources(); return nil })
			through("ObjectStoreStats", "storeStats", false, func() error { ObjectStoreStats(); return nil })
			through("Shutdown", "shutdown", false, func() error { Shutdown(); return nil })
		})
	}
}

// Init with an address (WithAddress, or GORAY_ADDRESS in the environment)
// asks for the cluster backend, which is not built yet: Init says so and
// does not start an embedded runtime in its place, and neither does the
// first remote call.
func TestInitWithAddressIsNotBuiltYet(t *testing.T) {
	Shutdown()
	t.Cleanup(Shutdown)
	err := Init(WithAddress("10.0.0.1:6379"))
	if !errors.Is(err, ErrNotImplemented) {
		t.Fatalf("Init(WithAddress): %v, want ErrNotImplemented", err)
	}
	if IsInitialized() {
		t.Fatal("Init(WithAddress) started an embedded runtime")
	}

	t.Setenv("GORAY_ADDRESS", "head:6379")
	Shutdown()
	if err := Init(); !errors.Is(err, ErrNotImplemented) {
		t.Fatalf("Init with GORAY_ADDRESS set: %v, want ErrNotImplemented", err)
	}
	if IsInitialized() {
		t.Fatal("Init with GORAY_ADDRESS started an embedded runtime")
	}
	// Before any Init, the first remote call starts the runtime: with an
	// address set it must not start an embedded one either.
	global.mu.Lock()
	global.down = false
	global.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := Get(ctx, seamF0.Remote(ctx)); !errors.Is(err, ErrNotImplemented) {
		t.Fatalf("Remote with GORAY_ADDRESS set: %v", err)
	}
	if IsInitialized() {
		t.Fatal("the first Remote with GORAY_ADDRESS set started an embedded runtime")
	}

	os.Unsetenv("GORAY_ADDRESS")
	if err := Init(); err != nil {
		t.Fatalf("Init without an address: %v", err)
	}
}
