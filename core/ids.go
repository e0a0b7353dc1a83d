package core

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
)

// IDs that travel between processes: fixed-size binary values laid out the
// way Ray lays them out, so that an ID says where it comes from.
//
//	JobID    4 bytes   a counter given out by the head
//	ActorID  16 bytes  12 unique bytes (hash of parent task and index) + JobID
//	TaskID   24 bytes  8 unique bytes (hash of parent task and index) + ActorID
//	                   (the actor's for a method call, nil-actor + JobID otherwise)
//	ObjectID 28 bytes  TaskID + 4-byte index (a return value, or a Put when the
//	                   high bit is set)
//	NodeID   28 bytes  random
//
// Every object a runtime makes is named this way: the index-th task a
// task (or the driver) submits is NewTaskID(parent, index), counted from 1
// per parent; its results are ReturnObjectID(task, 1..n); the index-th
// value a task (or the driver) stores with Put is PutObjectID(task, index).
// The unique bytes are a fixed 64-bit multiply-fold hash (the same on
// every platform and process), cheap enough to compute for every task.
//
// Each has String (lowercase hex), a Parse function, MarshalBinary and
// MarshalText (so the codec and JSON carry them), and Nil.
type (
	JobID    [JobIDSize]byte
	ActorID  [ActorIDSize]byte
	TaskID   [TaskIDSize]byte
	ObjectID [ObjectIDSize]byte
	NodeID   [NodeIDSize]byte
)

// Sizes of the IDs in bytes.
const (
	JobIDSize    = 4
	ActorIDSize  = 12 + JobIDSize
	TaskIDSize   = 8 + ActorIDSize
	ObjectIDSize = TaskIDSize + 4
	NodeIDSize   = 28
)

// putIndexBit marks an ObjectID made by Put rather than returned by a task.
const putIndexBit = 1 << 31

// JobIDFromInt returns the JobID of job number n.
func JobIDFromInt(n uint32) JobID {
	var id JobID
	binary.BigEndian.PutUint32(id[:], n)
	return id
}

// Int is the job's number.
func (id JobID) Int() uint32 { return binary.BigEndian.Uint32(id[:]) }

// Hash tags, so that IDs of different kinds never share unique bytes.
const (
	tagDriver uint64 = 0x6472697665720001 // "driver"
	tagTask   uint64 = 0x7461736b00000002 // "task"
	tagActor  uint64 = 0x6163746f72000003 // "actor"
	tagCall   uint64 = 0x63616c6c00000004 // "call"
)

// fold mixes two words into one (a 64x64->128 multiply folded, as wyhash does).
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return hi ^ lo
}

// hash64 is a 64-bit hash of tag and words, the same everywhere.
func hash64(tag uint64, words ...uint64) uint64 {
	h := tag
	for _, w := range words {
		h = fold(h, w)
	}
	return h
}

func word(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// taskWords are a TaskID as three words, for hashing.
func taskWords(t *TaskID) (uint64, uint64, uint64) {
	return word(t[0:8]), word(t[8:16]), word(t[16:24])
}

// DriverTaskID is the ID of a job's driver: the root of its task tree.
func DriverTaskID(job JobID) TaskID {
	var id TaskID
	binary.BigEndian.PutUint64(id[:8], hash64(tagDriver, uint64(job.Int())))
	nilActor := NilActorID(job)
	copy(id[8:], nilActor[:])
	return id
}

// NilActorID is the actor part of a task that runs on no actor.
func NilActorID(job JobID) ActorID {
	var id ActorID
	for i := range 12 {
		id[i] = 0xff
	}
	copy(id[12:], job[:])
	return id
}

// NewActorID derives the ID of the index-th actor created by parent.
func NewActorID(job JobID, parent TaskID, index uint64) ActorID {
	var id ActorID
	a, b, c := taskWords(&parent)
	binary.BigEndian.PutUint64(id[:8], hash64(tagActor, a, b, c, index))
	binary.BigEndian.PutUint32(id[8:12], uint32(hash64(tagActor+1, a, b, c, index)))
	copy(id[12:], job[:])
	return id
}

// NewTaskID derives the ID of the index-th task submitted by parent; a
// normal task is in parent's job, on no actor.
func NewTaskID(parent TaskID, index uint64) TaskID {
	var id TaskID
	a, b, c := taskWords(&parent)
	binary.BigEndian.PutUint64(id[:8], hash64(tagTask, a, b, c, index))
	binary.BigEndian.PutUint64(id[8:16], ^uint64(0)) // NilActorID(parent.Job())
	binary.BigEndian.PutUint32(id[16:20], ^uint32(0))
	copy(id[20:], parent[20:])
	return id
}

// NewActorTaskID derives the ID of the index-th method call that parent
// submitted to actor.
func NewActorTaskID(actor ActorID, parent TaskID, index uint64) TaskID {
	var id TaskID
	a, b, c := taskWords(&parent)
	binary.BigEndian.PutUint64(id[:8], hash64(tagCall, word(actor[0:8]), word(actor[8:16]), a, b, c, index))
	copy(id[8:], actor[:])
	return id
}

// ActorCreationTaskID is the ID of the task that creates actor, which is
// also the parent of what the actor's methods submit and put: the actor's
// ID with no unique bytes of its own.
func ActorCreationTaskID(actor ActorID) TaskID {
	var id TaskID
	copy(id[8:], actor[:])
	return id
}

// Job is the job the actor belongs to.
func (id ActorID) Job() JobID { return JobID(id[12:]) }

// Actor is the actor the task runs on (a NilActorID for a normal task).
func (id TaskID) Actor() ActorID { return ActorID(id[8:]) }

// Job is the job the task belongs to.
func (id TaskID) Job() JobID { return id.Actor().Job() }

// IsActorTask reports whether the task is a call on an actor.
func (id TaskID) IsActorTask() bool { return id.Actor() != NilActorID(id.Job()) }

// ReturnObjectID is the ID of the index-th return value of task (from 1,
// as Ray counts them).
func ReturnObjectID(task TaskID, index uint32) ObjectID {
	var id ObjectID
	copy(id[:], task[:])
	binary.BigEndian.PutUint32(id[TaskIDSize:], index&^putIndexBit)
	return id
}

// PutObjectID is the ID of the index-th object task stored with Put.
func PutObjectID(task TaskID, index uint32) ObjectID {
	var id ObjectID
	copy(id[:], task[:])
	binary.BigEndian.PutUint32(id[TaskIDSize:], index|putIndexBit)
	return id
}

// Task is the task that made the object.
func (id ObjectID) Task() TaskID { return TaskID(id[:TaskIDSize]) }

// Index is the object's return or Put index.
func (id ObjectID) Index() uint32 {
	return binary.BigEndian.Uint32(id[TaskIDSize:]) &^ putIndexBit
}

// IsPut reports whether Put made the object.
func (id ObjectID) IsPut() bool { return binary.BigEndian.Uint32(id[TaskIDSize:])&putIndexBit != 0 }

// NewNodeID returns a random NodeID.
func NewNodeID() NodeID {
	var id NodeID
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("goray: crypto/rand: %v", err)) // never fails on a supported OS
	}
	return id
}

func (id JobID) String() string    { return hex.EncodeToString(id[:]) }
func (id ActorID) String() string  { return hex.EncodeToString(id[:]) }
func (id TaskID) String() string   { return hex.EncodeToString(id[:]) }
func (id ObjectID) String() string { return hex.EncodeToString(id[:]) }
func (id NodeID) String() string   { return hex.EncodeToString(id[:]) }

// IsNil reports whether the ID is all zero (unset).
func (id JobID) IsNil() bool    { return id == JobID{} }
func (id ActorID) IsNil() bool  { return id == ActorID{} }
func (id TaskID) IsNil() bool   { return id == TaskID{} }
func (id ObjectID) IsNil() bool { return id == ObjectID{} }
func (id NodeID) IsNil() bool   { return id == NodeID{} }

func parseID(kind string, s string, out []byte) error {
	if len(s) != 2*len(out) {
		return fmt.Errorf("%w: %s %q: want %d hex digits, got %d", ErrInvalidInput, kind, s, 2*len(out), len(s))
	}
	if _, err := hex.Decode(out, []byte(s)); err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrInvalidInput, kind, s, err)
	}
	return nil
}

func fromBytes(kind string, b []byte, out []byte) error {
	if len(b) != len(out) {
		return fmt.Errorf("%w: %s: want %d bytes, got %d", ErrInvalidInput, kind, len(out), len(b))
	}
	copy(out, b)
	return nil
}

// ParseJobID parses JobID.String's output.
func ParseJobID(s string) (JobID, error) { var id JobID; return id, parseID("JobID", s, id[:]) }

// ParseActorID parses ActorID.String's output.
func ParseActorID(s string) (ActorID, error) { var id ActorID; return id, parseID("ActorID", s, id[:]) }

// ParseTaskID parses TaskID.String's output.
func ParseTaskID(s string) (TaskID, error) { var id TaskID; return id, parseID("TaskID", s, id[:]) }

// ParseObjectID parses ObjectID.String's output.
func ParseObjectID(s string) (ObjectID, error) {
	var id ObjectID
	return id, parseID("ObjectID", s, id[:])
}

// ParseNodeID parses NodeID.String's output.
func ParseNodeID(s string) (NodeID, error) { var id NodeID; return id, parseID("NodeID", s, id[:]) }

// TaskIDFromBytes reads a TaskID off the wire (corepb.TaskSpec.task_id).
func TaskIDFromBytes(b []byte) (TaskID, error) {
	var id TaskID
	return id, fromBytes("TaskID", b, id[:])
}

// ObjectIDFromBytes reads an ObjectID off the wire (corepb.ObjectRef.object_id).
func ObjectIDFromBytes(b []byte) (ObjectID, error) {
	var id ObjectID
	return id, fromBytes("ObjectID", b, id[:])
}

// ActorIDFromBytes reads an ActorID off the wire (corepb.TaskSpec.actor_id).
func ActorIDFromBytes(b []byte) (ActorID, error) {
	var id ActorID
	return id, fromBytes("ActorID", b, id[:])
}

// JobIDFromBytes reads a JobID off the wire (corepb.TaskSpec.job_id).
func JobIDFromBytes(b []byte) (JobID, error) { var id JobID; return id, fromBytes("JobID", b, id[:]) }

// NodeIDFromBytes reads a NodeID off the wire (corepb.Address.node_id).
func NodeIDFromBytes(b []byte) (NodeID, error) {
	var id NodeID
	return id, fromBytes("NodeID", b, id[:])
}

// Binary and text forms, so the codec (CBOR) and encoding/json carry IDs.

func (id JobID) MarshalBinary() ([]byte, error)    { return id[:], nil }
func (id ActorID) MarshalBinary() ([]byte, error)  { return id[:], nil }
func (id TaskID) MarshalBinary() ([]byte, error)   { return id[:], nil }
func (id ObjectID) MarshalBinary() ([]byte, error) { return id[:], nil }
func (id NodeID) MarshalBinary() ([]byte, error)   { return id[:], nil }

func (id *JobID) UnmarshalBinary(b []byte) error    { return fromBytes("JobID", b, id[:]) }
func (id *ActorID) UnmarshalBinary(b []byte) error  { return fromBytes("ActorID", b, id[:]) }
func (id *TaskID) UnmarshalBinary(b []byte) error   { return fromBytes("TaskID", b, id[:]) }
func (id *ObjectID) UnmarshalBinary(b []byte) error { return fromBytes("ObjectID", b, id[:]) }
func (id *NodeID) UnmarshalBinary(b []byte) error   { return fromBytes("NodeID", b, id[:]) }

func (id JobID) MarshalText() ([]byte, error)    { return []byte(id.String()), nil }
func (id ActorID) MarshalText() ([]byte, error)  { return []byte(id.String()), nil }
func (id TaskID) MarshalText() ([]byte, error)   { return []byte(id.String()), nil }
func (id ObjectID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }
func (id NodeID) MarshalText() ([]byte, error)   { return []byte(id.String()), nil }

func (id *JobID) UnmarshalText(b []byte) error    { return parseID("JobID", string(b), id[:]) }
func (id *ActorID) UnmarshalText(b []byte) error  { return parseID("ActorID", string(b), id[:]) }
func (id *TaskID) UnmarshalText(b []byte) error   { return parseID("TaskID", string(b), id[:]) }
func (id *ObjectID) UnmarshalText(b []byte) error { return parseID("ObjectID", string(b), id[:]) }
func (id *NodeID) UnmarshalText(b []byte) error   { return parseID("NodeID", string(b), id[:]) }
