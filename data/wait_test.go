package data

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecvCancelLosesNothing: a value sent while recv's caller is being
// cancelled is either returned to the caller, handed to drop, or still in
// the channel for the next receiver: never swallowed by the wait task. Run
// with -race, it also checks that the wait task writes nothing the caller
// reads without synchronisation.
func TestRecvCancelLosesNothing(t *testing.T) {
	ctx := t.Context()
	for i := range 200 {
		ch := make(chan int)
		rctx, cancel := context.WithCancel(ctx)
		var dropped atomic.Int64
		sent := make(chan struct{})
		go func() {
			// Let recv block in its wait task most of the time, then end
			// its ctx and send at once: the task sees the value while the
			// caller sees the cancellation.
			time.Sleep(time.Duration(i%5) * 500 * time.Microsecond)
			cancel()
			select {
			case ch <- 1:
			case <-time.After(10 * time.Second):
			}
			close(sent)
		}()
		v, ok, err := recv(rctx, ch, func(int) { dropped.Add(1) })
		got := int64(0)
		if err == nil {
			if !ok || v != 1 {
				t.Fatalf("iteration %d: recv = %d, %v", i, v, ok)
			}
			got = 1
		}
		var drained int64
		select {
		case <-ch:
			drained = 1
		case <-sent:
		}
		<-sent
		deadline := time.After(10 * time.Second)
		for got+drained+dropped.Load() != 1 {
			select {
			case <-deadline:
				t.Fatalf("iteration %d: value lost: returned %d, drained %d, dropped %d (err %v)", i, got, drained, dropped.Load(), err)
			case <-time.After(time.Millisecond):
			}
		}
		if n := got + drained + dropped.Load(); n != 1 {
			t.Fatalf("iteration %d: value counted %d times", i, n)
		}
		cancel()
	}
}
