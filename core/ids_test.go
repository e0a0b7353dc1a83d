package core_test

import (
	"encoding/json"
	"errors"
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
