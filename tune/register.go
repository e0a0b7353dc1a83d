package tune

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"

	"github.com/goray/goray/core"
)

// A trial's actor finds its trainable by name, the way a core worker finds
// a remote function: the name travels in the trial's spec and the function
// is looked up in the process that runs the trial. Register names a
// trainable once, at package init, in every process of the program.
// Trainables that were not registered (a func literal, a train.Trainer
// value) get a derived name while an experiment uses them: the function's
// runtime name (runtime.FuncForPC) or the trainer's type, with a #N suffix
// when another experiment of the process holds that name at the time.
// Those names resolve only in the process that built the Tuner.

// Registered is a trainable registered by name with Register; use it as
// Tuner.Trainable (or in WithResources, WithoutResume, Restore).
type Registered struct{ name string }

// Name returns the name the trainable was registered under.
func (r Registered) Name() string { return r.name }

type registration struct{ fn TrainableFunc }

var trainables struct {
	sync.Mutex
	byName map[string]*registration
}

// Register makes fn the trainable called name, so that a trial running in
// any process of the program runs it. Call it at package init (as with
// core.Func1), with a name that is the same in every process; registering
// a name twice, or a nil fn, panics. Variables that fn captures stay in the
// process that made it: the state a trial needs travels in its Config.
func Register(name string, fn TrainableFunc) Registered {
	if name == "" || fn == nil {
		panic("tune.Register: empty name or nil trainable")
	}
	trainables.Lock()
	defer trainables.Unlock()
	if trainables.byName == nil {
		trainables.byName = map[string]*registration{}
	}
	if _, dup := trainables.byName[name]; dup {
		panic(fmt.Sprintf("tune.Register: trainable %q registered twice", name))
	}
	trainables.byName[name] = &registration{fn: fn}
	return Registered{name: name}
}

// lookupTrainable finds the trainable registered under name.
func lookupTrainable(name string) (TrainableFunc, error) {
	trainables.Lock()
	defer trainables.Unlock()
	if r := trainables.byName[name]; r != nil {
		return r.fn, nil
	}
	return nil, fmt.Errorf("%w: trainable %q is not registered in this process (register it at package init with tune.Register to run trials in other processes)",
		core.ErrNotRegistered, name)
}

// holdDerivedName registers fn under base (or base#N if base is held) for
// the time of one experiment; release frees the name.
func holdDerivedName(base string, fn TrainableFunc) (name string, release func()) {
	trainables.Lock()
	defer trainables.Unlock()
	if trainables.byName == nil {
		trainables.byName = map[string]*registration{}
	}
	name = base
	for k := 2; trainables.byName[name] != nil; k++ {
		name = fmt.Sprintf("%s#%d", base, k)
	}
	r := &registration{fn: fn}
	trainables.byName[name] = r
	return name, func() {
		trainables.Lock()
		defer trainables.Unlock()
		if trainables.byName[name] == r {
			delete(trainables.byName, name)
		}
	}
}

// funcName is the runtime name of a function, e.g.
// "example.com/app.train" or "example.com/app.main.func1".
func funcName(fn any) string {
	if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
		return f.Name()
	}
	return fmt.Sprintf("%T", fn)
}
