package train_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/goray/goray/train"
)

// runGroup runs fn on every member of an in-process group and returns the
// members' errors, by rank.
func runGroup(group []train.Collective, fn func(c train.Collective) error) []error {
	errs := make([]error, len(group))
	var wg sync.WaitGroup
	for r, c := range group {
		wg.Go(func() { errs[r] = fn(c) })
	}
	wg.Wait()
	return errs
}

func TestLocalGroupCollectives(t *testing.T) {
	ctx := t.Context()
	group := train.NewLocalGroup(3)
	errs := runGroup(group, func(c train.Collective) error {
		r := c.Rank()
		if c.Size() != 3 {
			return fmt.Errorf("Size() = %d", c.Size())
		}
		sum := []float64{float64(r), 1}
		if err := c.AllReduce(ctx, sum, train.Sum); err != nil {
			return err
		}
		mean := []float64{float64(r)}
		if err := c.AllReduce(ctx, mean, train.Mean); err != nil {
			return err
		}
		mx := []float64{float64(-r)}
		if err := c.AllReduce(ctx, mx, train.Max); err != nil {
			return err
		}
		if sum[0] != 3 || sum[1] != 3 || mean[0] != 1 || mx[0] != 0 {
			return fmt.Errorf("sum %v mean %v max %v", sum, mean, mx)
		}
		// Integer sums are exact where float64 would round.
		ints := []int64{1<<60 + int64(r), -1}
		if err := c.AllReduceInt64(ctx, ints, train.Sum); err != nil {
			return err
		}
		if ints[0] != 3<<60+3 || ints[1] != -3 {
			return fmt.Errorf("int64 sum %v", ints)
		}
		imax := []int64{int64(r) * 7}
		if err := c.AllReduceInt64(ctx, imax, train.Max); err != nil {
			return err
		}
		if imax[0] != 14 {
			return fmt.Errorf("int64 max %v", imax)
		}
		var msg []byte
		if r == 1 {
			msg = []byte("from rank 1")
		}
		got, err := c.Broadcast(ctx, msg, 1)
		if err != nil {
			return err
		}
		if string(got) != "from rank 1" {
			return fmt.Errorf("broadcast %q", got)
		}
		mine := []byte{byte('a' + r)}
		all, err := c.AllGather(ctx, mine)
		if err != nil {
			return err
		}
		mine[0] = 'x' // the others' results are their own copies
		if len(all) != 3 || string(all[0]) != "a" || string(all[1]) != "b" || string(all[2]) != "c" {
			return fmt.Errorf("allgather %q", all)
		}
		all[(r+1)%3][0] = 'z'
		return c.Barrier(ctx)
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// A worker that gives up (its context ends) breaks the group: the others
// do not wait for it forever.
func TestLocalGroupCancel(t *testing.T) {
	group := train.NewLocalGroup(2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := group[0].AllReduce(ctx, []float64{1}, train.Sum); !errors.Is(err, context.Canceled) {
		t.Fatalf("AllReduce with a cancelled context: %v", err)
	}
	bounded, stop := context.WithTimeout(t.Context(), 30*time.Second)
	defer stop()
	if err := group[1].AllReduce(bounded, []float64{1}, train.Sum); !errors.Is(err, train.ErrGroupAborted) {
		t.Fatalf("broken group: %v", err)
	}
}

// Workers calling different collectives, or passing different lengths,
// all get an error naming the mismatch instead of a wrong result.
func TestCollectiveMismatch(t *testing.T) {
	for name, fn := range map[string]func(c train.Collective) error{
		"kind": func(c train.Collective) error {
			if c.Rank() == 0 {
				return c.AllReduce(t.Context(), []float64{1}, train.Sum)
			}
			_, err := c.AllGather(t.Context(), nil)
			return err
		},
		"length": func(c train.Collective) error {
			return c.AllReduceInt64(t.Context(), make([]int64, 1+c.Rank()), train.Sum)
		},
		"op": func(c train.Collective) error {
			return c.AllReduce(t.Context(), []float64{1}, train.ReduceOp(c.Rank()))
		},
	} {
		t.Run(name, func(t *testing.T) {
			for r, err := range runGroup(train.NewLocalGroup(2), fn) {
				if !errors.Is(err, train.ErrInvalidConfig) {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}

func TestSolo(t *testing.T) {
	ctx := t.Context()
	c := train.Solo()
	if c.Rank() != 0 || c.Size() != 1 {
		t.Fatalf("rank %d size %d", c.Rank(), c.Size())
	}
	v := []float64{2.5, math.Inf(-1)}
	if err := c.AllReduce(ctx, v, train.Mean); err != nil || v[0] != 2.5 || !math.IsInf(v[1], -1) {
		t.Fatalf("AllReduce: %v %v", v, err)
	}
	all, err := c.AllGather(ctx, []byte("me"))
	if err != nil || len(all) != 1 || string(all[0]) != "me" {
		t.Fatalf("AllGather: %q %v", all, err)
	}
	if err := c.AllReduceInt64(ctx, []int64{1}, train.Mean); !errors.Is(err, train.ErrInvalidConfig) {
		t.Errorf("int64 mean: %v", err)
	}
	if _, err := c.Broadcast(ctx, nil, 1); !errors.Is(err, train.ErrInvalidConfig) {
		t.Errorf("broadcast from rank 1 of 1: %v", err)
	}
	if err := c.AllReduce(ctx, v, train.ReduceOp(9)); !errors.Is(err, train.ErrInvalidConfig) {
		t.Errorf("unknown op: %v", err)
	}
}
