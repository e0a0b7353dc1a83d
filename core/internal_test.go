package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var lineageAdd = Func2("internal.lineageAdd", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })

// A finished task's object keeps its lineage (function and ref argument
// IDs by position) and nothing else of the task.
func TestFinishedObjectKeepsLineageOnly(t *testing.T) {
	Shutdown()
	if err := Init(WithNumCPUs(2)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := Put(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := lineageAdd.RemoteArgs(ctx, Val(1), x)
	if v, err := Get(ctx, r); err != nil || v != 3 {
		t.Fatalf("got %v, %v", v, err)
	}
	o := r.h.obj
	o.mu.Lock()
	producer := o.producer
	o.mu.Unlock()
	if producer != nil {
		t.Fatal("a finished object still points at its task (and so at the task's closure and arguments)")
	}
	if o.fn == nil || o.fn.name != "internal.lineageAdd" {
		t.Fatalf("lineage function: %+v", o.fn)
	}
	if o.argIDs == nil || !o.argIDs[0].IsNil() || o.argIDs[1] != x.h.obj.id {
		t.Fatalf("lineage argument IDs %v, want [nil %s nil nil]", o.argIDs, x.h.obj.id)
	}
	if plain := lineageAdd.Remote(ctx, 1, 2); plain.h.obj.argIDs != nil {
		t.Fatal("a call without ref arguments records argument IDs")
	}
}

// The first call auto-starts the runtime (when Shutdown was never called);
// Init with options then refuses, naming the running configuration.
func TestInitWithOptionsAfterAutoStart(t *testing.T) {
	Shutdown()
	global.mu.Lock()
	global.down = false // as in a fresh process
	global.mu.Unlock()
	t.Cleanup(Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Get(ctx, lineageAdd.Remote(ctx, 1, 2)); err != nil {
		t.Fatalf("auto-started runtime: %v", err)
	}
	if !IsInitialized() {
		t.Fatal("the first call did not start the runtime")
	}
	if err := Init(); err != nil {
		t.Fatalf("Init without options: %v", err)
	}
	err := Init(WithNumCPUs(1), WithMemoryBudget(1<<20))
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), "memory budget=") {
		t.Fatalf("Init with options after auto-start: %v", err)
	}
}
