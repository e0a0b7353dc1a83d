package core

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
)

// StoreStats describes the object store at one moment.
type StoreStats struct {
	Objects       int   // objects in the books (values of 100 KiB or more; smaller ones are inlined)
	MemoryBytes   int64 // bytes of values held in memory
	BudgetBytes   int64 // memory budget
	SpilledBytes  int64 // bytes of values on disk
	SpilledFiles  int   // spill files on disk
	PeakMemory    int64 // highest MemoryBytes seen
	SpillsTotal   int64 // values written to disk so far
	RestoresTotal int64 // values read back from disk so far
	// OwnedRefs counts the objects in the owner's reference table: those
	// a ref to was encoded (into a task's arguments, a value, a spill
	// file), pinned by a submitted task or nested in a spilled value. It
	// drops back as they are freed.
	OwnedRefs int
}

// Sizer lets a value report its size for memory accounting.
type Sizer interface {
	SizeBytes() int64
}

// store is the embedded object store: values in memory up to a budget, the
// oldest spilled to files in dir past it.
type store struct {
	budget     int64
	spillLimit int64
	dir        string
	refs       refTable // ownership of the objects refs were encoded for

	mu       sync.Mutex
	live     int
	used     int64
	peak     int64
	spilled  int64
	reserved int64 // spill space held for files being written
	files    int
	spills   int64
	restores int64
	lruHead  *object // oldest in-memory object
	lruTail  *object
}

func newStore(budget, spillLimit int64, dir string) *store {
	return &store{budget: budget, spillLimit: spillLimit, dir: dir, refs: newRefTable()}
}

// newObject makes the object named id, to be filled by a task.
func (s *store) newObject(id ObjectID) *object {
	return &object{id: id}
}

// put stores a complete value as the object named id.
func (s *store) put(v any, id ObjectID) (*object, error) {
	obj := &object{id: id, value: v}
	obj.finished.Store(true)
	if err := s.admit(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// inlineSize is the size under which values are not accounted against the
// memory budget and never spill, like Ray's inlined small objects: they
// live with their refs, and the accounting lock would cost more than they do.
const inlineSize = 100 << 10

// admit accounts a complete object's value and spills old ones past the
// budget. The spill limit holds for both: a value that fits neither the
// memory left nor, for what it would evict, the spill space left is refused
// with ErrObjectTooLarge (Ray's object store full error).
func (s *store) admit(obj *object) error {
	v, err := obj.result()
	if err != nil || v == nil {
		return nil
	}
	size := sizeOf(v)
	if size < inlineSize {
		return nil
	}
	s.mu.Lock()
	if obj.big == nil {
		obj.big = &bigObject{}
	}
	obj.big.size = size
	obj.big.typ = reflect.TypeOf(v)
	obj.accounted = true
	if obj.isFreed() { // its last ref went while it was being computed
		obj.accounted = false
		s.mu.Unlock()
		return nil
	}
	s.live++
	if size > s.budget {
		// Straight to disk, if the disk can take it.
		if left := s.spillLeftLocked(); size > left {
			s.live--
			obj.accounted = false
			s.mu.Unlock()
			return fmt.Errorf("%w: a %T of %d bytes fits neither the memory budget (%d bytes) nor the spill space left (%d bytes)",
				ErrObjectTooLarge, v, size, s.budget, left)
		}
		s.reserved += size
		s.mu.Unlock()
		if err := s.spill(obj); err != nil {
			s.mu.Lock()
			s.live--
			obj.accounted = false
			s.mu.Unlock()
			return fmt.Errorf("%w: a %T of %d bytes is over the memory budget (%d bytes) and cannot be spilled: %v",
				ErrObjectTooLarge, v, size, s.budget, err)
		}
		return nil
	}
	victims, ok := s.makeRoomLocked(size)
	if !ok {
		s.live--
		obj.accounted = false
		used, left := s.used, s.spillLeftLocked()
		s.mu.Unlock()
		return fmt.Errorf("%w: object store full: a %T of %d bytes does not fit the memory budget (%d of %d bytes used), and the spill space left (%d bytes) cannot take the objects it would evict",
			ErrObjectTooLarge, v, size, used, s.budget, left)
	}
	s.addMemory(obj)
	s.mu.Unlock()
	s.spillVictims(victims)
	return nil
}

// spillLeftLocked is the spill space neither used nor being written.
func (s *store) spillLeftLocked() int64 {
	return s.spillLimit - s.spilled - s.reserved
}

// makeRoomLocked picks the oldest in-memory objects to spill so that need
// more bytes fit the budget, takes them out of memory and reserves their
// spill space. If the spill space cannot take them it changes nothing and
// reports false. Caller holds s.mu and spills the victims after unlocking.
func (s *store) makeRoomLocked(need int64) ([]*object, bool) {
	over := s.used + need - s.budget
	if over <= 0 {
		return nil, true
	}
	var victims []*object
	var total int64
	for o := s.lruHead; o != nil && total < over; o = o.big.lruNext {
		victims = append(victims, o)
		total += o.big.size
	}
	if total < over || total > s.spillLeftLocked() {
		return nil, false
	}
	for _, o := range victims {
		s.removeMemory(o)
	}
	s.reserved += total
	return victims, true
}

// spillVictims writes objects makeRoomLocked picked. One that cannot be
// encoded stays in memory, over budget.
func (s *store) spillVictims(victims []*object) {
	for _, o := range victims {
		if err := s.spill(o); err != nil {
			s.mu.Lock()
			if !o.isFreed() {
				s.addMemory(o)
			}
			s.mu.Unlock()
		}
	}
}

// addMemory puts obj at the LRU tail. Caller holds s.mu.
func (s *store) addMemory(obj *object) {
	obj.inMemory = true
	s.used += obj.big.size
	if s.used > s.peak {
		s.peak = s.used
	}
	obj.big.lruPrev, obj.big.lruNext = s.lruTail, nil
	if s.lruTail != nil {
		s.lruTail.big.lruNext = obj
	} else {
		s.lruHead = obj
	}
	s.lruTail = obj
}

// removeMemory takes obj off the LRU list. Caller holds s.mu.
func (s *store) removeMemory(obj *object) {
	if !obj.inMemory {
		return
	}
	obj.inMemory = false
	s.used -= obj.big.size
	if obj.big.lruPrev != nil {
		obj.big.lruPrev.big.lruNext = obj.big.lruNext
	} else {
		s.lruHead = obj.big.lruNext
	}
	if obj.big.lruNext != nil {
		obj.big.lruNext.big.lruPrev = obj.big.lruPrev
	} else {
		s.lruTail = obj.big.lruPrev
	}
	obj.big.lruPrev, obj.big.lruNext = nil, nil
}

// spill writes obj's value to a file, using the spill space reserved for
// it, and drops the value from memory. The refs the value holds stop being
// Go handles on disk, so obj pins their objects from now on (Ray's
// contained-in refs) until it is freed.
func (s *store) spill(obj *object) error {
	if mayHoldRefs(obj.big.typ) {
		v, _ := obj.result()
		w := refsIn(v)
		s.refs.nest(obj, w.objectsOf(s))
	}
	path, err := s.writeSpill(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved -= obj.big.size
	if err != nil {
		return err
	}
	if obj.isFreed() {
		os.Remove(path)
		return nil
	}
	obj.mu.Lock()
	obj.value = nil
	obj.mu.Unlock()
	obj.big.spillPath = path
	s.spilled += obj.big.size
	s.files++
	s.spills++
	return nil
}

// writeSpill encodes obj's value into its spill file.
func (s *store) writeSpill(obj *object) (string, error) {
	v, _ := obj.result()
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, "obj-"+obj.id.String()+".spill")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = encodeValue(w, v)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// load returns obj's value, reading it back from disk if it was spilled.
// The file is read and decoded without the store's lock (one reader per
// object at a time), so a large restore does not stall the store.
func (s *store) load(obj *object) (any, error) {
	v, err := obj.result()
	if err != nil || v != nil {
		return v, err
	}
	if obj.big == nil { // never accounted (obj.big is set before obj completes): a nil value, or freed
		if obj.isFreed() {
			return nil, fmt.Errorf("%w: object %s", ErrObjectFreed, obj.id)
		}
		return nil, nil
	}
	obj.big.restoreMu.Lock()
	defer obj.big.restoreMu.Unlock()
	if v, err := obj.result(); err != nil || v != nil {
		return v, err // restored by another reader meanwhile
	}
	s.mu.Lock()
	if obj.isFreed() {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: object %s", ErrObjectFreed, obj.id)
	}
	path, typ := obj.big.spillPath, obj.big.typ
	s.mu.Unlock()
	if path == "" { // a nil value
		return obj.result()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("restore spilled object %s from %s: %w", obj.id, path, err)
	}
	v, err = decodeValue(bytes.NewReader(b), typ)
	if err != nil {
		return nil, fmt.Errorf("restore spilled object %s from %s: %w", obj.id, path, err)
	}
	s.mu.Lock()
	if obj.isFreed() || obj.big.spillPath != path {
		s.mu.Unlock()
		return v, nil // freed meanwhile: hand the value over, keep no books
	}
	// Back into memory if it fits, evicting older objects the spill space
	// can take (the file this one leaves frees its share); else it stays
	// on disk and this reader gets the value.
	s.spilled -= obj.big.size
	victims, ok := s.makeRoomLocked(obj.big.size)
	if !ok {
		s.spilled += obj.big.size
		s.restores++
		s.mu.Unlock()
		return v, nil
	}
	obj.mu.Lock()
	obj.value = v
	obj.mu.Unlock()
	obj.big.spillPath = ""
	// Unlink before the object is back in memory: evicted again, it would
	// spill to this same path.
	os.Remove(path)
	s.files--
	s.restores++
	s.addMemory(obj)
	s.mu.Unlock()
	s.spillVictims(victims)
	return v, nil
}

// decRef drops one local handle. The last one frees the object, unless it
// is in the owner's table: then the table decides (other holders may be
// left).
func (s *store) decRef(obj *object) {
	if obj.refs.Add(-1) != 0 {
		return
	}
	if obj.markFreed() {
		s.drop(obj)
		return
	}
	if f := obj.flags.Load(); f&objTracked != 0 && f&objFreed == 0 {
		s.dropAll(s.refs.released(obj))
	}
}

// dropAll lets go of objects the owner's table freed.
func (s *store) dropAll(objs []*object) {
	for _, o := range objs {
		s.drop(o)
	}
}

// drop takes a freed object out of the books and lets its value go.
func (s *store) drop(obj *object) {
	// admit sets accounted under s.mu and then checks freed, so one of the
	// two always sees the other: an object is never left in the books.
	s.mu.Lock()
	path := ""
	if obj.accounted {
		obj.accounted = false
		s.live--
		s.removeMemory(obj)
		path = obj.big.spillPath
		if path != "" {
			obj.big.spillPath = ""
			s.spilled -= obj.big.size
			s.files--
		}
	}
	s.mu.Unlock()
	if obj.isDone() {
		obj.mu.Lock()
		obj.value = nil
		obj.mu.Unlock()
	}
	if path != "" {
		os.Remove(path)
	}
}

// Stats reports the store's memory use.
func (s *store) Stats() StoreStats {
	owned := s.refs.tracked()
	s.mu.Lock()
	defer s.mu.Unlock()
	return StoreStats{Objects: s.live, MemoryBytes: s.used, BudgetBytes: s.budget,
		SpilledBytes: s.spilled, SpilledFiles: s.files, PeakMemory: s.peak,
		SpillsTotal: s.spills, RestoresTotal: s.restores, OwnedRefs: owned}
}

// sizeOf estimates the bytes a value holds. Sizer wins; otherwise slices,
// strings, maps and structs are walked a few levels deep.
func sizeOf(v any) int64 {
	switch x := v.(type) {
	case Sizer:
		return x.SizeBytes()
	case []byte:
		return int64(len(x))
	case string:
		return int64(len(x))
	case []float64:
		return int64(len(x)) * 8
	case []float32:
		return int64(len(x)) * 4
	case []int:
		return int64(len(x)) * 8
	case int, int64, uint64, float64, bool, int32, float32, uint32:
		return 8
	}
	return sizeOfValue(reflect.ValueOf(v), 4)
}

func sizeOfValue(v reflect.Value, depth int) int64 {
	if !v.IsValid() {
		return 0
	}
	t := v.Type()
	if isRefType(t) {
		return int64(t.Size()) // a handle: the object it names is counted on its own
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() || depth == 0 {
			return int64(t.Size())
		}
		if v.CanInterface() {
			if s, ok := v.Interface().(Sizer); ok {
				return s.SizeBytes()
			}
		}
		return int64(t.Size()) + sizeOfValue(v.Elem(), depth-1)
	case reflect.String:
		return int64(t.Size()) + int64(v.Len())
	case reflect.Slice, reflect.Array:
		n := v.Len()
		el := t.Elem()
		switch el.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.String, reflect.Slice, reflect.Map, reflect.Struct, reflect.Array:
			if depth == 0 || n == 0 {
				return int64(t.Size()) + int64(n)*int64(el.Size())
			}
			// Sample up to 16 elements and extrapolate.
			step := max(n/16, 1)
			var sum int64
			var k int64
			for i := 0; i < n; i += step {
				sum += sizeOfValue(v.Index(i), depth-1)
				k++
			}
			return int64(t.Size()) + sum*int64(n)/k
		}
		return int64(t.Size()) + int64(n)*int64(el.Size())
	case reflect.Map:
		n := int64(v.Len())
		return int64(t.Size()) + n*int64(t.Key().Size()+t.Elem().Size()+8)
	case reflect.Struct:
		var sum int64
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.Pointer, reflect.Interface, reflect.String, reflect.Slice, reflect.Map, reflect.Struct:
				if depth > 0 {
					sum += sizeOfValue(f, depth-1)
					continue
				}
			}
			sum += int64(f.Type().Size())
		}
		return sum
	}
	return int64(t.Size())
}
