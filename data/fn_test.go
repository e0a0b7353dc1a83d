package data_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

var encodeAll = os.Getenv("GORAY_ENCODE_ALL") == "1"

type scaleArgs struct {
	Factor int64
	Seen   []int64 // changed by the function, to show each task has a copy
}

// scaleIDs multiplies column "id" by args.Factor.
func scaleIDs(ctx context.Context, batch arrow.Record, a scaleArgs) (arrow.Record, error) {
	if a.Factor == 0 {
		return nil, errors.New("factor 0")
	}
	if len(a.Seen) > 0 {
		a.Seen[0] = -1 // the task's copy; the driver's value is unchanged
	}
	ids := batch.Column(0).(*array.Int64)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := 0; i < ids.Len(); i++ {
		b.Append(ids.Value(i) * a.Factor)
	}
	arr := b.NewArray()
	defer arr.Release()
	return array.NewRecord(batch.Schema(), []arrow.Array{arr}, batch.NumRows()), nil
}

var scaleFn = data.RegisterBatchFunc("data_test.scale", scaleIDs)

type offsetArgs struct{ Offset int64 }

// offsetClass is a stateful function: each actor builds it once from its
// constructor arguments.
var offsetClass = data.RegisterBatchClass("data_test.offset", func(ctx context.Context, a offsetArgs) (data.BatchFunc, error) {
	if a.Offset < 0 {
		return nil, errors.New("negative offset")
	}
	return func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		ids := batch.Column(0).(*array.Int64)
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		for i := 0; i < ids.Len(); i++ {
			b.Append(ids.Value(i) + a.Offset)
		}
		arr := b.NewArray()
		defer arr.Release()
		return array.NewRecord(batch.Schema(), []arrow.Array{arr}, batch.NumRows()), nil
	}, nil
})

// failingMarshal encodes to an error: a value CheckEncodable accepts (it
// has its own encoding) that still cannot travel.
type failingMarshal struct{}

func (failingMarshal) MarshalBinary() ([]byte, error) {
	return nil, errors.New("no bytes for this one")
}
func (*failingMarshal) UnmarshalBinary([]byte) error { return nil }

var failingFn = data.RegisterBatchFunc("data_test.failingArgs", func(ctx context.Context, batch arrow.Record, a failingMarshal) (arrow.Record, error) {
	batch.Retain()
	return batch, nil
})

// materialized is Range(n) held in the store, so that the map stage after
// it reads blocks (a stage fused with a source reads inside the task).
func materialized(t *testing.T, ctx context.Context, n int) *data.Dataset {
	t.Helper()
	ds, err := data.Range(n).Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func sumIDs(t *testing.T, ctx context.Context, ds *data.Dataset) int64 {
	t.Helper()
	var sum int64
	for row, err := range ds.IterRows(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		sum += row["id"].(int64)
	}
	return sum
}

func bypassed(key string) int64 { return core.EncodeAllBypassed()[key] }

// TestMapBatchesFnRunsByName: a registered function with FnArgs gets its
// arguments in every task; in encode-all mode its tasks run by name,
// through the codec (no LocalOnly data task is bypassed).
func TestMapBatchesFnRunsByName(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 1000)
	before := bypassed("function goray.data.mapTask")
	ds := src.MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 3}), data.BatchSize(100))
	if got, want := sumIDs(t, ctx, ds), int64(3*999*1000/2); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
	if n := bypassed("function goray.data.mapTask") - before; n != 0 {
		t.Fatalf("%d map tasks bypassed the codec", n)
	}
	st := ds.Stats()
	found := false
	for _, o := range st.Operators {
		if o.Name == "MapBatches(data_test.scale)" {
			found = true
			if o.Rows != 1000 || o.Tasks == 0 {
				t.Fatalf("stats of the operator: %+v", o)
			}
		}
	}
	if !found {
		t.Fatalf("no stats for the operator:\n%v", st)
	}
	if names := scaleFn.Name(); names != "data_test.scale" {
		t.Fatalf("Name() = %q", names)
	}
}

// TestMapBatchesFnChained: several registered operators fuse into one
// stage that runs by name.
func TestMapBatchesFnChained(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 100)
	before := bypassed("function goray.data.mapTask")
	ds := src.MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 2})).MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 5}), data.Name("times5"))
	if got, want := sumIDs(t, ctx, ds), int64(10*99*100/2); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
	if n := bypassed("function goray.data.mapTask") - before; n != 0 {
		t.Fatalf("%d map tasks bypassed the codec", n)
	}
}

// TestFnArgsAreCopies: state passed as FnArgs is a copy in every task (as
// on a cluster): the function's change to it is not seen by the driver.
// State a closure captures is shared in-process only: a function that
// must run on a cluster cannot rely on it.
func TestFnArgsAreCopies(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 10)
	args := scaleArgs{Factor: 1, Seen: []int64{7}}
	ds := src.MapBatchesFn(scaleFn.FnArgs(args))
	if got := sumIDs(t, ctx, ds); got != 45 {
		t.Fatalf("sum = %d", got)
	}
	if args.Seen[0] != 7 {
		t.Fatalf("the driver's FnArgs changed to %v: tasks must get copies", args.Seen)
	}

	// The same pipeline with a closure: it shares the driver's variables
	// (in-process only).
	seen := []int64{7}
	closure := src.MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		return scaleIDs(ctx, b, scaleArgs{Factor: 1, Seen: seen})
	})
	if got := sumIDs(t, ctx, closure); got != 45 {
		t.Fatalf("sum = %d", got)
	}
	if seen[0] != -1 {
		t.Fatalf("a captured slice should be shared in-process, got %v", seen)
	}
}

// TestFnArgsNotEncodable: arguments that cannot be encoded are refused,
// naming the operator and the FnArgs.
func TestFnArgsNotEncodable(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 10)
	_, err := src.MapBatchesFn(failingFn.FnArgs(failingMarshal{})).Count(ctx)
	if !errors.Is(err, data.ErrInvalidInput) || !strings.Contains(err.Error(), "FnArgs") ||
		!strings.Contains(err.Error(), "MapBatches(data_test.failingArgs)") || !strings.Contains(err.Error(), "no bytes for this one") {
		t.Fatalf("err = %v", err)
	}
	// Even where the stage would run in-process (fused with its source).
	_, err = data.Range(10).MapBatchesFn(failingFn.FnArgs(failingMarshal{})).Count(ctx)
	if !errors.Is(err, data.ErrInvalidInput) || !strings.Contains(err.Error(), "FnArgs") {
		t.Fatalf("fused with a source: err = %v", err)
	}
	// A zero Fn.
	_, err = src.MapBatchesFn(data.Fn{}).Count(ctx)
	if !errors.Is(err, data.ErrInvalidInput) {
		t.Fatalf("zero Fn: err = %v", err)
	}
}

// TestRegisterRefusesNotEncodableArgs: an argument type that cannot be
// encoded is a programmer error, caught at registration and naming the
// part that cannot travel.
func TestRegisterRefusesNotEncodableArgs(t *testing.T) {
	type withFunc struct {
		Name     string
		Callback func()
	}
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		data.RegisterBatchFunc("data_test.withFunc", func(ctx context.Context, b arrow.Record, a withFunc) (arrow.Record, error) { return nil, nil })
		return ""
	}()
	if !strings.Contains(msg, "Callback") || !strings.Contains(msg, "data_test.withFunc") {
		t.Fatalf("panic = %q", msg)
	}
	msg = func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		data.RegisterBatchFunc("data_test.scale", scaleIDs)
		return ""
	}()
	if !strings.Contains(msg, "twice") {
		t.Fatalf("registering a name twice: panic = %q", msg)
	}
}

// TestMapBatchesFnError: the function's error fails the dataset with
// ErrOperatorFailed naming the operator, in both modes.
func TestMapBatchesFnError(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 10)
	_, err := src.MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 0})).Count(ctx)
	if !errors.Is(err, data.ErrOperatorFailed) || !strings.Contains(err.Error(), "MapBatches(data_test.scale)") || !strings.Contains(err.Error(), "factor 0") {
		t.Fatalf("err = %v", err)
	}
}

// TestBatchClassPool: a registered class runs on a pool of actors built
// from FnConstructorArgs, by name in encode-all mode.
func TestBatchClassPool(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 1000)
	beforeClass := bypassed("actor class goray.data.poolWorker")
	beforeRun := bypassed("actor method goray.data.poolWorker.run")
	ds := src.MapBatchesFn(offsetClass.FnConstructorArgs(offsetArgs{Offset: 1}), data.Concurrency(2), data.BatchSize(100))
	if got, want := sumIDs(t, ctx, ds), int64(999*1000/2+1000); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
	if bypassed("actor class goray.data.poolWorker") != beforeClass || bypassed("actor method goray.data.poolWorker.run") != beforeRun {
		t.Fatal("the pool bypassed the codec")
	}
	// The constructor's error fails the dataset.
	_, err := src.MapBatchesFn(offsetClass.FnConstructorArgs(offsetArgs{Offset: -1})).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "negative offset") {
		t.Fatalf("constructor error: %v", err)
	}
}

// TestMapBatchesFnEncodeAllTasksDoNotBypass checks, in encode-all mode,
// that no data registration was bypassed by the registered pipelines.
func TestMapBatchesFnEncodeAllTasksDoNotBypass(t *testing.T) {
	if !encodeAll {
		t.Skip("GORAY_ENCODE_ALL=1 only")
	}
	ctx := testCtx(t)
	src := materialized(t, ctx, 100)
	before := core.EncodeAllBypassed()
	ds := src.MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 2}))
	if _, err := ds.Count(ctx); err != nil {
		t.Fatal(err)
	}
	for k, n := range core.EncodeAllBypassed() {
		if strings.Contains(k, "goray.data.map") || strings.Contains(k, "poolWorker") {
			if n != before[k] {
				t.Errorf("%s bypassed %d times", k, n-before[k])
			}
		}
	}
}

// TestColumnOperatorsRunByName: the column operators are registered, so
// they fuse with registered functions into a stage that runs by name.
func TestColumnOperatorsRunByName(t *testing.T) {
	ctx := testCtx(t)
	src := materialized(t, ctx, 100)
	before := bypassed("function goray.data.mapTask")
	ds := src.MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 2})).
		RenameColumns(map[string]string{"id": "x"}).
		SelectColumns("x").
		RenameColumns(map[string]string{"x": "id"})
	if got, want := sumIDs(t, ctx, ds), int64(99*100); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
	if n := bypassed("function goray.data.mapTask") - before; n != 0 {
		t.Fatalf("%d map tasks bypassed the codec", n)
	}
	_, err := src.DropColumns("nope").Count(ctx)
	if !errors.Is(err, data.ErrInvalidInput) || !strings.Contains(err.Error(), `DropColumns: unknown column "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestRangeFusedWithRegisteredRunsByName: Range's read tasks have an
// encodable form, so Range fused with registered operators runs by name.
func TestRangeFusedWithRegisteredRunsByName(t *testing.T) {
	ctx := testCtx(t)
	before := bypassed("function goray.data.mapTask")
	ds := data.Range(1000).MapBatchesFn(scaleFn.FnArgs(scaleArgs{Factor: 3})).SelectColumns("id")
	if got, want := sumIDs(t, ctx, ds), int64(3*999*1000/2); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
	if n := bypassed("function goray.data.mapTask") - before; n != 0 {
		t.Fatalf("%d map tasks bypassed the codec", n)
	}
	var rangeRows int64
	for _, o := range ds.Stats().Operators {
		if o.Name == "Range" {
			rangeRows = o.Rows
		}
	}
	if rangeRows != 1000 {
		t.Fatalf("Range stats: %d rows\n%v", rangeRows, ds.Stats())
	}
}
