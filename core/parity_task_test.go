package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/goray/goray/core"
)

// Ray's wait requires unique object refs ("Wait requires a list of unique
// object refs"): a duplicate is an invalid input that names its index.
func TestWaitRejectsDuplicateRefs(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	a, err := core.Put(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := square.Remote(ctx, 3)
	for name, refs := range map[string][]core.Ref[int]{
		"same ref twice": {a, b, a},
		"copy of a ref":  {b, a, func() core.Ref[int] { c := a; return c }()},
	} {
		_, _, err := core.Wait(ctx, refs, core.WaitOptions{NumReturns: 1})
		if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "ref 2") {
			t.Errorf("%s: Wait: %v, want ErrInvalidInput naming ref 2", name, err)
		}
	}
	var many []core.Ref[int]
	for i := range 20 {
		r, err := core.Put(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, r)
	}
	many[19] = many[5]
	if _, _, err := core.Wait(ctx, many, core.WaitOptions{}); !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "ref 19") {
		t.Errorf("20 refs: Wait: %v, want ErrInvalidInput naming ref 19", err)
	}
	if ready, _, err := core.Wait(ctx, []core.Ref[int]{a, b}, core.WaitOptions{NumReturns: 2}); err != nil || len(ready) != 2 {
		t.Errorf("unique refs: ready %d, %v", len(ready), err)
	}
}
