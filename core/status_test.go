package core_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/goray/goray/core"
	"github.com/goray/goray/core/corepb"
)

var errBadRow = errors.New("bad row")

func init() {
	core.RegisterError("core_test.errBadRow", errBadRow)
	core.RegisterError("core_test.errApp", errApp) // core_test.go's
}

var statusFail = core.Func1("test.status.fail", func(ctx context.Context, row int) (int, error) {
	return 0, fmt.Errorf("parse row %d: %w", row, errBadRow)
})

var statusPanic = core.Func1("test.status.panic", func(ctx context.Context, _ int) (int, error) {
	panic("boom")
}, core.MaxRetries(0))

var allCategories = []error{core.ErrShutdown, core.ErrNotRegistered, core.ErrInvalidInput, core.ErrInfeasible,
	core.ErrTaskFailed, core.ErrWorkerCrashed, core.ErrTaskCancelled, core.ErrActorDied, core.ErrObjectTooLarge,
	core.ErrObjectFreed, core.ErrNotEncodable, context.Canceled, context.DeadlineExceeded}

// An error raised by a task and wrapped twice keeps its categories and its
// message after it crosses a process (EncodeError, DecodeError), twice.
func TestErrorStatusRoundTrip(t *testing.T) {
	ctx := setup(t)
	raise := map[string]struct {
		err  func() error
		want []error // categories it must match
		task string
	}{
		"task failed": {func() error { _, err := core.Get(ctx, statusFail.Remote(ctx, 3)); return err },
			[]error{core.ErrTaskFailed}, "test.status.fail"},
		"worker crashed": {func() error { _, err := core.Get(ctx, statusPanic.Remote(ctx, 0)); return err },
			[]error{core.ErrWorkerCrashed}, "test.status.panic"},
		"actor died": {func() error {
			h, err := counterClass.Remote(ctx, 0)
			if err != nil {
				return err
			}
			if err := core.Kill(h); err != nil {
				return err
			}
			_, err = core.Get(ctx, counterIncr.Remote(ctx, h))
			return err
		}, []error{core.ErrActorDied}, ""},
		"cancelled": {func() error {
			r := sleepFor.Remote(ctx, 10_000)
			if err := core.Cancel(r); err != nil {
				return err
			}
			_, err := core.Get(ctx, r)
			return err
		}, []error{core.ErrTaskCancelled}, ""},
		"not encodable": {func() error { _, err := core.Put(ctx, Config{}); return err },
			[]error{core.ErrNotEncodable, core.ErrInvalidInput}, ""},
		"deadline": {func() error {
			c, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			_, err := core.Get(c, sleepFor.Remote(ctx, 10_000))
			return err
		}, []error{context.DeadlineExceeded}, ""},
	}
	for name, tc := range raise {
		t.Run(name, func(t *testing.T) {
			orig := tc.err()
			if orig == nil {
				t.Fatal("no error raised")
			}
			wrapped := fmt.Errorf("pipeline: %w", fmt.Errorf("stage 2: %w", orig))
			once := core.DecodeError(core.EncodeError(wrapped))
			twice := core.DecodeError(core.EncodeError(once))
			for _, got := range []error{once, twice} {
				if got.Error() != wrapped.Error() {
					t.Errorf("message: got %q, want %q", got, wrapped)
				}
				for _, cat := range allCategories {
					if want := errors.Is(wrapped, cat); errors.Is(got, cat) != want {
						t.Errorf("errors.Is(decoded, %v) = %v, want %v", cat, !want, want)
					}
				}
				for _, cat := range tc.want {
					if !errors.Is(got, cat) {
						t.Errorf("decoded error lost category %v", cat)
					}
				}
				var re *core.RemoteError
				if !errors.As(got, &re) {
					t.Fatalf("decoded %T, want *core.RemoteError", got)
				}
				if re.Task != tc.task {
					t.Errorf("task: got %q, want %q", re.Task, tc.task)
				}
				if name == "worker crashed" && (re.Panic != "boom" || re.Stack == "") {
					t.Errorf("panic %q, stack %d bytes: want the remote panic and stack", re.Panic, len(re.Stack))
				}
			}
			// The innermost message survives in the chain.
			var last error = once
			for {
				next := errors.Unwrap(last)
				if u, ok := last.(interface{ Unwrap() []error }); ok {
					ws := u.Unwrap()
					next = nil
					if len(ws) > 0 {
						if _, ok := ws[len(ws)-1].(*core.RemoteError); ok {
							next = ws[len(ws)-1]
						}
					}
				}
				if next == nil {
					break
				}
				last = next
			}
			if name == "task failed" && last.Error() != "parse row 3: bad row" && last.Error() != "bad row" {
				t.Errorf("innermost link: %q", last)
			}
		})
	}
}

func TestErrorStatusCode(t *testing.T) {
	st := core.ErrorStatus(fmt.Errorf("x: %w", core.ErrActorDied))
	if st.GetCode() != corepb.ErrorCode_ERROR_CODE_ACTOR_DIED {
		t.Fatalf("code %v", st.GetCode())
	}
	if st := core.ErrorStatus(errors.New("user")); st.GetCode() != corepb.ErrorCode_ERROR_CODE_UNSPECIFIED || st.GetMessage() != "user" {
		t.Fatalf("user error: %v", st)
	}
	if core.EncodeError(nil) != nil || core.DecodeError(nil) != nil {
		t.Fatal("nil error must stay nil")
	}
}

// A registered user sentinel keeps its identity across a process; an
// unregistered one keeps only its message.
func TestUserSentinelsCrossProcesses(t *testing.T) {
	unregistered := errors.New("not registered")
	err := fmt.Errorf("outer: %w", &core.TaskError{Task: "t", Attempts: 1, Cause: fmt.Errorf("row 2: %w", errBadRow)})
	got := core.DecodeError(core.EncodeError(err))
	if !errors.Is(got, errBadRow) || got.Error() != err.Error() {
		t.Fatalf("registered sentinel: got %v", got)
	}
	got = core.DecodeError(core.EncodeError(fmt.Errorf("x: %w", unregistered)))
	if errors.Is(got, unregistered) || got.Error() != "x: not registered" {
		t.Fatalf("unregistered sentinel: got %v (Is %v)", got, errors.Is(got, unregistered))
	}
	if msg := registerPanics(t, func() { core.RegisterError("core_test.errBadRow", errors.New("other")) }); msg == "" {
		t.Fatal("a second registration of one name must panic")
	}
}

func TestDecodeErrorHostile(t *testing.T) {
	err := core.DecodeError([]byte{0xff, 0xff, 0xff, 0x01})
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("got %v", err)
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(core.EncodeError(fmt.Errorf("a: %w", core.ErrTaskCancelled)))
	f.Add([]byte{0x0a, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := core.DecodeError(b)
		if err != nil {
			_ = err.Error()
			_ = errors.Is(err, core.ErrActorDied)
			_ = core.DecodeError(core.EncodeError(err))
		}
	})
}
