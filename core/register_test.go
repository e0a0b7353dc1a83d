package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/goray/goray/core"
)

func registerPanics(t *testing.T, f func()) string {
	t.Helper()
	var msg string
	func() {
		defer func() {
			if p := recover(); p != nil {
				msg = fmt.Sprint(p)
			}
		}()
		f()
	}()
	return msg
}

type Handler struct {
	Name string
	Fn   func(int) int
}

// Registering code whose arguments or results cannot cross a process is a
// programmer error caught at once, naming the type path.
func TestRegistrationRefusesUnencodableTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		register func()
		want     string
	}{
		"func argument field": {func() {
			core.Func1("test.reg.handler", func(ctx context.Context, h Handler) (int, error) { return 0, nil })
		}, `function "test.reg.handler" argument 0: invalid input: not encodable: core_test.Handler.Fn: func cannot be encoded`},
		"chan result": {func() {
			core.Func0("test.reg.chan", func(ctx context.Context) (chan int, error) { return nil, nil })
		}, `function "test.reg.chan" result: invalid input: not encodable: chan int: chan cannot be encoded`},
		"context argument": {func() {
			core.Func2("test.reg.ctx", func(ctx context.Context, x int, c context.Context) (int, error) { return 0, nil })
		}, `function "test.reg.ctx" argument 1`},
		"actor constructor": {func() {
			core.Actor1("test.reg.actor", func(ctx context.Context, c Config) (*Counter, error) { return nil, nil })
		}, `actor class "test.reg.actor" argument 0: invalid input: not encodable: core_test.Config.callback: unexported field`},
		"method argument": {func() {
			core.Method1("test.reg.method", func(c *Counter, ctx context.Context, f func()) (int, error) { return 0, nil })
		}, `actor method "test.reg.method" argument 0`},
		"method result": {func() {
			core.Method0("test.reg.method2", func(c *Counter, ctx context.Context) (WithIface, error) { return WithIface{}, nil })
		}, `actor method "test.reg.method2" result: invalid input: not encodable: core_test.WithIface.R: interface type io.Reader`},
	} {
		t.Run(name, func(t *testing.T) {
			msg := registerPanics(t, tc.register)
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %q, want it to contain %q", msg, tc.want)
			}
			if !strings.Contains(msg, "core.LocalOnly()") {
				t.Fatalf("panic %q does not name the escape hatch", msg)
			}
		})
	}
}

var localHandler = core.Func1("test.reg.localHandler", func(ctx context.Context, h Handler) (int, error) {
	return h.Fn(2), nil
}, core.LocalOnly())

var localMethod = core.Method1("test.reg.localMethod", func(c *Counter, ctx context.Context, f func(int) int) (int, error) {
	return f(c.n), nil
}, core.LocalOnly())

// LocalOnly registrations pass in-process values and are listed.
func TestLocalOnlyRunsInProcess(t *testing.T) {
	ctx := setup(t)
	if v, err := core.Get(ctx, localHandler.Remote(ctx, Handler{Fn: func(x int) int { return x * 10 }})); err != nil || v != 20 {
		t.Fatalf("got %d, %v", v, err)
	}
	h, err := counterClass.Remote(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, localMethod.Remote(ctx, h, func(x int) int { return x + 1 })); err != nil || v != 5 {
		t.Fatalf("method: got %d, %v", v, err)
	}
	got := core.LocalOnlyRegistrations()
	for _, want := range []string{"function test.reg.localHandler", "actor method test.reg.localMethod"} {
		if !slices.Contains(got, want) {
			t.Errorf("LocalOnlyRegistrations() = %v, missing %q", got, want)
		}
	}
	if slices.Contains(got, "function test.square") {
		t.Errorf("test.square is not LocalOnly: %v", got)
	}
}

// Method RemoteArgs waits, in the call's place in the actor's queue, for
// its ref arguments.
func TestMethodRemoteArgs(t *testing.T) {
	ctx := setup(t)
	h, err := counterClass.Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	slow := sleepFor.Remote(ctx, 20) // 20
	first := counterAdd.RemoteArgs(ctx, h, slow)
	second := counterAdd.RemoteArgs(ctx, h, core.Val(1))
	if v, err := core.Get(ctx, first); err != nil || v != 20 {
		t.Fatalf("first: got %d, %v", v, err)
	}
	if v, err := core.Get(ctx, second); err != nil || v != 21 {
		t.Fatalf("second (after the first, in order): got %d, %v", v, err)
	}
	failed := statusFail.Remote(ctx, 1)
	if _, err := core.Get(ctx, counterAdd.RemoteArgs(ctx, h, failed)); !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, errBadRow) {
		t.Fatalf("a failed ref argument: got %v", err)
	}
	var zero core.Ref[int]
	if _, err := core.Get(ctx, counterAdd.RemoteArgs(ctx, h, zero)); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("a zero ref argument: got %v", err)
	}
}
