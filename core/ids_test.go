package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/goray/goray/core"
)

func TestIDLayout(t *testing.T) {
	job := core.JobIDFromInt(7)
	if job.Int() != 7 || len(job) != 4 {
		t.Fatalf("job %v", job)
	}
	driver := core.DriverTaskID(job)
	task := core.NewTaskID(driver, 1)
	if task.Job() != job || task.IsActorTask() {
		t.Fatalf("task %v: job %v, actor task %v", task, task.Job(), task.IsActorTask())
	}
	if core.NewTaskID(driver, 1) != task {
		t.Fatal("task IDs must be derived deterministically from parent and index")
	}
	if core.NewTaskID(driver, 2) == task || core.NewTaskID(task, 1) == task {
		t.Fatal("different parents or indexes must give different task IDs")
	}
	actor := core.NewActorID(job, task, 0)
	if actor.Job() != job || len(actor) != 16 {
		t.Fatalf("actor %v job %v", actor, actor.Job())
	}
	call := core.NewActorTaskID(actor, task, 3)
	if call.Actor() != actor || !call.IsActorTask() || call.Job() != job {
		t.Fatalf("actor task %v: actor %v", call, call.Actor())
	}
	obj := core.ReturnObjectID(task, 1)
	if obj.Task() != task || obj.Index() != 1 || obj.IsPut() || len(obj) != 28 {
		t.Fatalf("object %v: task %v index %d put %v", obj, obj.Task(), obj.Index(), obj.IsPut())
	}
	put := core.PutObjectID(task, 1)
	if put.Task() != task || put.Index() != 1 || !put.IsPut() || put == obj {
		t.Fatalf("put object %v", put)
	}
	if a, b := core.NewNodeID(), core.NewNodeID(); a == b || a.IsNil() {
		t.Fatalf("node IDs %v %v", a, b)
	}
}

func TestIDStringParse(t *testing.T) {
	task := core.NewTaskID(core.DriverTaskID(core.JobIDFromInt(1)), 9)
	obj := core.ReturnObjectID(task, 2)
	got, err := core.ParseObjectID(obj.String())
	if err != nil || got != obj {
		t.Fatalf("parse %s: %v, %v", obj, got, err)
	}
	if gt, err := core.ParseTaskID(task.String()); err != nil || gt != task {
		t.Fatalf("parse task: %v %v", gt, err)
	}
	for _, bad := range []string{"", "zz", obj.String()[:10], obj.String() + "00", "g" + obj.String()[1:]} {
		if _, err := core.ParseObjectID(bad); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("ParseObjectID(%q): %v", bad, err)
		}
	}
	if _, err := core.TaskIDFromBytes(make([]byte, 3)); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("TaskIDFromBytes of 3 bytes: %v", err)
	}
}

type withIDs struct {
	Task core.TaskID
	Obj  core.ObjectID
	Node core.NodeID
	Job  core.JobID
}

func TestIDsTravelThroughCodecAndJSON(t *testing.T) {
	task := core.NewTaskID(core.DriverTaskID(core.JobIDFromInt(3)), 1)
	v := withIDs{Task: task, Obj: core.PutObjectID(task, 4), Node: core.NewNodeID(), Job: core.JobIDFromInt(3)}
	if got := roundTrip(t, v); got != v {
		t.Fatalf("codec: got %+v, want %+v", got, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back withIDs
	if err := json.Unmarshal(b, &back); err != nil || back != v {
		t.Fatalf("json %s: got %+v, %v", b, back, err)
	}
	// A wrong-length ID on the wire is an error.
	enc := mustEncode(t, map[string][]byte{"Task": {1, 2, 3}})
	if _, err := core.DecodeAs[withIDs](enc); err == nil {
		t.Fatal("a 3-byte TaskID decoded")
	}
}

// What a nested task reports about its IDs: its own (CurrentTaskID), the
// IDs of what it submits and puts, and those of a several-returns and a
// generator call it makes.
type nestedIDs struct {
	Self, Child, Child2 string
	Put, Put2           string
	Q, R                string
	Gen                 []string
}

var idsChild = core.Func1("test.ids.child", func(ctx context.Context, x int) (string, error) {
	return core.CurrentTaskID(ctx).String(), nil
})

var idsGen = core.Gen1("test.ids.gen", func(ctx context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

var idsDivmod = core.Func2x2("test.ids.divmod", func(ctx context.Context, a, b int) (int, int, error) {
	return a / b, a % b, nil
})

var idsParent = core.Func1("test.ids.parent", func(ctx context.Context, x int) (nestedIDs, error) {
	var out nestedIDs
	out.Self = core.CurrentTaskID(ctx).String()
	c1 := idsChild.Remote(ctx, 1)
	p1, err := core.Put(ctx, 10)
	if err != nil {
		return out, err
	}
	c2 := idsChild.Remote(ctx, 2)
	p2, err := core.Put(ctx, 20)
	if err != nil {
		return out, err
	}
	q, r := idsDivmod.Remote(ctx, 7, 2)
	gen := idsGen.Remote(ctx, 2)
	for ref, err := range gen.All(ctx) {
		if err != nil {
			return out, err
		}
		out.Gen = append(out.Gen, ref.ID())
	}
	for _, c := range []core.Ref[string]{c1, c2} {
		self, err := core.Get(ctx, c)
		if err != nil {
			return out, err
		}
		if id, _ := core.ParseObjectID(c.ID()); id.Task().String() != self {
			return out, fmt.Errorf("child ref %s, but the child runs as task %s", c.ID(), self)
		}
	}
	out.Child, out.Child2, out.Put, out.Put2, out.Q, out.R = c1.ID(), c2.ID(), p1.ID(), p2.ID(), q.ID(), r.ID()
	return out, nil
})

func mustParseObjectID(t *testing.T, s string) core.ObjectID {
	t.Helper()
	id, err := core.ParseObjectID(s)
	if err != nil {
		t.Fatalf("ID %q: %v", s, err)
	}
	return id
}

// Ray's ID scheme: a task's ID derives from the task that submitted it
// (the driver outside any task) and its index among that parent's
// submissions; its results are ReturnObjectID(task, 1..n); a Put is
// PutObjectID(putting task, put index). Ref.ID is the ObjectID's string
// form, whatever made the object.
func TestIDsDeriveFromTheSubmitter(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(4))
	driver := core.CurrentTaskID(ctx)
	if driver.IsNil() || driver.IsActorTask() {
		t.Fatalf("driver ID %v", driver)
	}

	// From the driver: the first Put and the tasks it submits.
	put, err := core.Put(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	pid := mustParseObjectID(t, put.ID())
	if !pid.IsPut() || pid.Task() != driver || pid.Index() == 0 || pid != put.ObjectID() {
		t.Fatalf("driver Put %s: task %v index %d put %v; want a Put of the driver %v", put.ID(), pid.Task(), pid.Index(), pid.IsPut(), driver)
	}
	put2, _ := core.Put(ctx, 2)
	if id := put2.ObjectID(); id.Task() != driver || id.Index() != pid.Index()+1 || !id.IsPut() {
		t.Fatalf("second driver Put %s after %s: want the next put index", id, pid)
	}

	ref := idsParent.Remote(ctx, 0)
	rid := mustParseObjectID(t, ref.ID())
	if rid != ref.ObjectID() || rid.IsPut() || rid.Index() != 1 {
		t.Fatalf("task result %s (ObjectID %s): want return 1", ref.ID(), ref.ObjectID())
	}
	got, err := core.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	parent := rid.Task()
	if got.Self != parent.String() {
		t.Fatalf("the task runs as %s, its ref names task %s", got.Self, parent)
	}
	// Its index among the driver's submissions: some index, the same
	// derivation as NewTaskID.
	found := uint64(0)
	for i := uint64(1); i <= 1000; i++ {
		if core.NewTaskID(driver, i) == parent {
			found = i
			break
		}
	}
	if found == 0 {
		t.Fatalf("task %s is not NewTaskID(driver %s, i) for any i <= 1000", parent, driver)
	}
	next := mustParseObjectID(t, idsParent.Remote(ctx, 1).ID()).Task()
	if next != core.NewTaskID(driver, found+1) {
		t.Fatalf("the driver's next task %s: want NewTaskID(driver, %d)", next, found+1)
	}

	// Inside the task: children are its submissions 1, 2 (then the
	// several-returns call, 3, and the generator, 4); its Puts are its
	// put indexes 1 and 2.
	for i, c := range []string{got.Child, got.Child2} {
		id := mustParseObjectID(t, c)
		if id.Task() != core.NewTaskID(parent, uint64(i+1)) || id.Index() != 1 || id.IsPut() {
			t.Errorf("child %d result %s: want ReturnObjectID(NewTaskID(parent, %d), 1)", i+1, c, i+1)
		}
	}
	for i, p := range []string{got.Put, got.Put2} {
		if id := mustParseObjectID(t, p); id != core.PutObjectID(parent, uint32(i+1)) {
			t.Errorf("nested Put %d %s: want PutObjectID(parent, %d) = %s", i+1, p, i+1, core.PutObjectID(parent, uint32(i+1)))
		}
	}
	call := core.NewTaskID(parent, 3)
	if mustParseObjectID(t, got.Q) != core.ReturnObjectID(call, 1) || mustParseObjectID(t, got.R) != core.ReturnObjectID(call, 2) {
		t.Errorf("several returns %s, %s: want returns 1, 2 of NewTaskID(parent, 3) = %s", got.Q, got.R, call)
	}
	gen := core.NewTaskID(parent, 4)
	if len(got.Gen) != 2 {
		t.Fatalf("generator refs %v", got.Gen)
	}
	for i, g := range got.Gen {
		if mustParseObjectID(t, g) != core.ReturnObjectID(gen, uint32(i+1)) {
			t.Errorf("generator value %d %s: want return %d of NewTaskID(parent, 4) = %s", i+1, g, i+1, gen)
		}
	}
}

// Actor calls are actor tasks: their results name the actor, and what a
// method submits derives from the actor's creation task.
func TestActorCallIDs(t *testing.T) {
	ctx := setup(t)
	h, err := idsActor.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := idsActorSubmit.Remote(ctx, h)
	id := mustParseObjectID(t, r.ID())
	if !id.Task().IsActorTask() || id.Index() != 1 || id != r.ObjectID() {
		t.Fatalf("method result %s: want return 1 of an actor task", r.ID())
	}
	actor := id.Task().Actor()
	child, err := core.Get(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	creation := core.ActorCreationTaskID(actor)
	if cid := mustParseObjectID(t, child); cid.Task() != core.NewTaskID(creation, 1) {
		t.Fatalf("a method's first submission %s: want a task of the actor's creation task %s", child, creation)
	}
	r2 := idsActorSubmit.Remote(ctx, h)
	if id2 := r2.ObjectID(); id2.Task().Actor() != actor || id2.Task() == id.Task() {
		t.Fatalf("second call %s, first %s: want another task on the same actor", id2, id)
	}
}

type idsActorState struct{}

var idsActor = core.Actor0("test.ids.Actor", func(ctx context.Context) (*idsActorState, error) { return &idsActorState{}, nil })

var idsActorSubmit = core.Method0("test.ids.Actor.Submit", func(a *idsActorState, ctx context.Context) (string, error) {
	c := idsChild.Remote(ctx, 0)
	if _, err := core.Get(ctx, c); err != nil {
		return "", err
	}
	return c.ID(), nil
})

// A ref's wire form carries its ObjectID, and decoding it finds the same
// object, for every kind of object: a Put, a task result, a return of a
// several-returns call and a generator value.
func TestObjectIDsTravel(t *testing.T) {
	ctx := setup(t)
	put, err := core.Put(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	q, r := idsDivmod.Remote(ctx, 17, 5)
	var genRef core.Ref[int]
	for ref, err := range idsGen.Remote(ctx, 3).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if !genRef.Valid() {
			genRef = ref
		}
	}
	for _, c := range []struct {
		name string
		ref  core.Ref[int]
		want int
	}{{"put", put, 5}, {"task", square.Remote(ctx, 3), 9}, {"return 1", q, 3}, {"return 2", r, 2}, {"generator value", genRef, 0}} {
		b, err := core.Encode(c.ref)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		id := c.ref.ObjectID()
		if c.ref.ID() != id.String() {
			t.Errorf("%s: ID %s, ObjectID %s", c.name, c.ref.ID(), id)
		}
		if !bytes.Contains(b, id[:]) {
			t.Errorf("%s: the wire form %x does not carry ObjectID %s", c.name, b, id)
		}
		back, err := core.DecodeAs[core.Ref[int]](b)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		if back.ObjectID() != id {
			t.Errorf("%s: decoded %s, want %s", c.name, back.ObjectID(), id)
		}
		if v, err := core.Get(ctx, back); err != nil || v != c.want {
			t.Errorf("%s: decoded ref reads %v, %v; want %d", c.name, v, err, c.want)
		}
	}
}

var (
	idsActorPair = core.Method0x2("test.ids.Actor.Pair", func(a *idsActorState, ctx context.Context) (int, int, error) { return 1, 2, nil })
	idsActorGen  = core.GenMethod0("test.ids.Actor.Gen", func(a *idsActorState, ctx context.Context, yield func(int) error) error {
		for i := range 3 {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
)

// A method call with several returns names them 1, 2 of one actor task; a
// generator method's values are returns 1, 2, ... of its call, and its
// Completed object is index 0, so no two objects share an ID.
func TestActorMethodReturnAndGeneratorIDs(t *testing.T) {
	ctx := setup(t)
	h, err := idsActor.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := idsActorPair.Remote(ctx, h)
	ia, ib := a.ObjectID(), b.ObjectID()
	if ia.Task() != ib.Task() || !ia.Task().IsActorTask() || ia.Index() != 1 || ib.Index() != 2 || a.ID() != ia.String() {
		t.Fatalf("several returns of a method call: %s %s", a.ID(), b.ID())
	}
	g := idsActorGen.Remote(ctx, h)
	var task core.TaskID
	i := 0
	for r, err := range g.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		id := r.ObjectID()
		if i == 0 {
			task = id.Task()
		}
		if id.Task() != task || id.Index() != uint32(i+1) || !task.IsActorTask() {
			t.Fatalf("generator value %d: %s", i, r.ID())
		}
		i++
	}
	if i != 3 {
		t.Fatalf("%d values, want 3", i)
	}
	if c := g.Completed().ObjectID(); c.Task() != task || c.Index() != 0 {
		t.Fatalf("generator call's own object %s: want index 0 of %s", g.Completed().ID(), task)
	}
}
