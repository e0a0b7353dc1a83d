package core

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Runtime is one embedded goray runtime: a scheduler, an object store and
// an actor directory in this process. Most programs use the default one
// through Init and the package-level calls.
type Runtime struct {
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool
	down   chan struct{}  // closed once shutdown has finished
	wg     sync.WaitGroup // every worker, actor loop, retry timer and helper goroutine

	retryMu  sync.Mutex
	retrying map[*task]struct{} // tasks waiting out a retry backoff

	sched  *scheduler
	store  *store
	actors *actorDirectory
	cfg    initConfig

	// front is the backend that fronts this runtime: the runtime itself,
	// or a backend layered over it. Package-level calls made in its tasks
	// and actors go to front, and so do calls on its refs and actors.
	// Set before the runtime is published.
	front backend
	dead  bool // the runtime of refs made when no runtime could be had

	// What the program submits and puts outside any task or actor: the
	// job's DriverTaskID and its counts (driverSub).
	driverID TaskID
	driver   idCounters
}

// InitOption configures Init.
type InitOption func(*initConfig)

type initConfig struct {
	cpus, gpus float64
	custom     map[string]float64
	memory     float64
	budget     int64
	spillDir   string
	spillLimit int64
	encodeAll  bool   // WithEncodeAll
	namespace  string // WithNamespace
	address    string // WithAddress
	err        error
}

// WithNumCPUs sets how many CPUs tasks may hold at once (default: all cores).
func WithNumCPUs(n float64) InitOption { return func(c *initConfig) { c.cpus = n } }

// WithNumGPUs sets how many GPUs the runtime offers (default 0).
func WithNumGPUs(n float64) InitOption { return func(c *initConfig) { c.gpus = n } }

// WithResources adds custom resources, e.g. {"accelerator": 2}.
func WithResources(r map[string]float64) InitOption {
	return func(c *initConfig) { c.custom = r }
}

// WithMemoryBudget bounds the bytes of objects held in memory (default 30%
// of the machine's RAM); past it objects spill to disk.
func WithMemoryBudget(bytes int64) InitOption { return func(c *initConfig) { c.budget = bytes } }

// WithSpillDir sets where spilled objects go (default: a new temp directory).
func WithSpillDir(dir string) InitOption { return func(c *initConfig) { c.spillDir = dir } }

// WithSpillLimit bounds the bytes of objects on disk (default: unlimited),
// counted as for the memory budget (spill files add a few bytes of codec
// framing each). It holds for objects evicted to make room as well as for
// objects too large for memory: once memory and spill space are full, Put
// and task results fail with ErrObjectTooLarge ("object store full").
func WithSpillLimit(bytes int64) InitOption { return func(c *initConfig) { c.spillLimit = bytes } }

var global struct {
	// mu guards the fields below and serialises Init and Shutdown's
	// bookkeeping. It is never held while a runtime stops: tasks of a
	// stopping runtime may call into the package (Remote, Put) and must
	// get ErrShutdown, not wait for Shutdown to finish.
	mu       sync.Mutex
	rt       atomic.Pointer[Runtime]
	down     bool     // Shutdown was called and Init not since: no auto-start
	stopping *Runtime // the runtime a Shutdown is stopping, so a second Shutdown waits too
}

// Init starts the default runtime. Called with no options while a runtime
// is up (started by Init or by the first remote call), it does nothing and
// returns nil. Called with options while one is up, it returns an error
// naming the running configuration: the options would not take effect.
// After Shutdown, Init starts a new runtime.
func Init(opts ...InitOption) error {
	global.mu.Lock()
	defer global.mu.Unlock()
	if rt := global.rt.Load(); rt != nil {
		if len(opts) == 0 {
			return nil
		}
		return fmt.Errorf("%w: core.Init with options: the runtime is already running with %s; call core.Shutdown first to start one with other options",
			ErrInvalidInput, rt.cfg)
	}
	rt, err := startBackend(opts...)
	if err != nil {
		return err
	}
	global.rt.Store(rt)
	global.down = false
	return nil
}

// IsInitialized reports whether the default runtime is up.
func IsInitialized() bool {
	return global.rt.Load() != nil
}

// Shutdown stops the default runtime: queued work is cancelled, actors are
// killed, running tasks see their context cancelled and Shutdown waits for
// them. Refs from it then fail with ErrShutdown. Until the next Init, Remote,
// Put, Get and the other calls fail with ErrShutdown instead of starting a
// new runtime. It is idempotent; a second call while the first is stopping
// the runtime waits for it too.
//
// A task still running when Shutdown is called may submit work or put
// objects: those calls fail with ErrShutdown at once. Called from inside a
// task or an actor method, Shutdown does not wait (it would wait for its
// caller): it cancels everything and returns, and the runtime finishes
// stopping once every task and actor has returned.
func Shutdown() {
	global.mu.Lock()
	rt := global.rt.Swap(nil)
	if rt != nil {
		global.stopping = rt
	} else {
		rt = global.stopping
	}
	global.down = true
	global.mu.Unlock()
	if rt == nil {
		return
	}
	forget := func() {
		global.mu.Lock()
		if global.stopping == rt {
			global.stopping = nil
		}
		global.mu.Unlock()
	}
	if calledFromUserCode() {
		// Waiting would wait for the caller itself: start the stop and let
		// the backend finish it once every task and actor has returned.
		done := rt.front.shutdown(false)
		go func() {
			<-done
			forget()
		}()
		return
	}
	rt.front.shutdown(true)
	forget()
}

// calledFromUserCode reports whether the calling goroutine is running a
// task or an actor method or constructor (all user code runs under
// callSafely). It reads the caller's stack, so it is only for rare calls.
func calledFromUserCode() bool {
	buf := make([]byte, 64<<10)
	n := runtime.Stack(buf, false)
	return bytes.Contains(buf[:n], []byte("/core.callSafely("))
}

// errNotRunning is what calls get after Shutdown and before Init.
var errNotRunning = fmt.Errorf("%w: core.Shutdown was called; call core.Init to start a new runtime", ErrShutdown)

// current returns the default runtime, starting it with defaults if no
// runtime was started yet (as Ray's first remote call does). After Shutdown
// it returns ErrShutdown until Init is called.
func current() (*Runtime, error) {
	if rt := global.rt.Load(); rt != nil {
		return rt, nil
	}
	global.mu.Lock()
	defer global.mu.Unlock()
	if rt := global.rt.Load(); rt != nil {
		return rt, nil
	}
	if global.down {
		return nil, errNotRunning
	}
	rt, err := startBackend()
	if err != nil {
		return nil, err
	}
	global.rt.Store(rt)
	return rt, nil
}

// runtimeFor returns the runtime a call made with ctx belongs to: the
// runtime of the task or actor whose context it is (even while that runtime
// stops: its work must not go to another one), else the default runtime.
// It also returns the task whose context ctx is, if any.
func runtimeFor(ctx context.Context) (*Runtime, *task, error) {
	if t := taskFromContext(ctx); t != nil {
		if t.rt.closed.Load() {
			return nil, t, fmt.Errorf("%w: called from task %q while the runtime stops", ErrShutdown, t.name)
		}
		return t.rt, t, nil
	}
	if a, ok := ctx.Value(holderKey{}).(*actor); ok {
		if a.rt.closed.Load() {
			return nil, nil, fmt.Errorf("%w: called from actor %q while the runtime stops", ErrShutdown, a.class)
		}
		return a.rt, nil, nil
	}
	rt, err := current()
	return rt, nil, err
}

// String describes the configuration, for errors.
func (c initConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{CPU=%g", c.cpus)
	if c.gpus != 0 {
		fmt.Fprintf(&b, ", GPU=%g", c.gpus)
	}
	keys := make([]string, 0, len(c.custom))
	for k := range c.custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ", %s=%g", k, c.custom[k])
	}
	fmt.Fprintf(&b, ", memory budget=%d bytes, spill dir=%s", c.budget, c.spillDir)
	if c.spillLimit < unlimitedSpill {
		fmt.Fprintf(&b, ", spill limit=%d bytes", c.spillLimit)
	}
	b.WriteString("}")
	return b.String()
}

// unlimitedSpill is the spill limit when WithSpillLimit is not given.
const unlimitedSpill = 1 << 62

func newRuntime(opts ...InitOption) (*Runtime, error) {
	cfg := initConfig{cpus: float64(runtime.NumCPU()), spillLimit: unlimitedSpill}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	bad := func(what string, v float64) error {
		return fmt.Errorf("%w: Init option %s = %v: must be a finite number >= 0", ErrInvalidInput, what, v)
	}
	switch {
	case cfg.cpus < 0 || cfg.cpus != cfg.cpus:
		return nil, bad("WithNumCPUs", cfg.cpus)
	case cfg.gpus < 0 || cfg.gpus != cfg.gpus:
		return nil, bad("WithNumGPUs", cfg.gpus)
	case cfg.budget < 0:
		return nil, bad("WithMemoryBudget", float64(cfg.budget))
	case cfg.spillLimit < 0:
		return nil, bad("WithSpillLimit", float64(cfg.spillLimit))
	}
	for k, v := range cfg.custom {
		if v < 0 || v != v {
			return nil, bad("WithResources["+k+"]", v)
		}
	}
	total := totalMemory()
	if cfg.budget == 0 {
		cfg.budget = total * 3 / 10
	}
	cfg.memory = float64(total)
	if cfg.spillDir == "" {
		dir, err := os.MkdirTemp("", "goray-spill-")
		if err != nil {
			return nil, fmt.Errorf("create spill directory: %w", err)
		}
		cfg.spillDir = dir
	} else {
		cfg.spillDir = filepath.Join(cfg.spillDir, fmt.Sprintf("goray-%d-%d", os.Getpid(), runtimeSeq.Add(1)))
	}
	rt := &Runtime{cfg: cfg, down: make(chan struct{})}
	rt.front = rt
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	res := resources{cpu: cfg.cpus, gpu: cfg.gpus, mem: cfg.memory}
	for k, v := range cfg.custom {
		if res.custom == nil {
			res.custom = map[string]float64{}
		}
		res.custom[k] = v
	}
	rt.sched = newScheduler(rt, res)
	rt.store = newStore(cfg.budget, cfg.spillLimit, cfg.spillDir)
	rt.driverID = DriverTaskID(rt.store.refs.job)
	rt.actors = newActorDirectory(cfg.namespace)
	return rt, nil
}

var runtimeSeq atomic.Int64

var deadOnce = sync.OnceValue(func() *Runtime {
	rt, _ := newRuntime(WithSpillDir(os.TempDir()))
	rt.closed.Store(true)
	rt.dead = true
	rt.cancel()
	close(rt.down)
	return rt
})

// deadRuntime backs refs made when no runtime could be had.
func deadRuntime() *Runtime { return deadOnce() }

// stop stops rt and waits for its goroutines; a second call waits for
// the first to finish.
func (rt *Runtime) stop() {
	if rt.beginShutdown() {
		rt.finishShutdown()
		return
	}
	<-rt.down
}

// beginShutdown stops new work and cancels what runs; it reports false if
// another caller already began.
func (rt *Runtime) beginShutdown() bool {
	if !rt.closed.CompareAndSwap(false, true) {
		return false
	}
	rt.cancel()
	for _, t := range rt.sched.drain() {
		if t.state.CompareAndSwap(taskQueued, taskCancelled) {
			t.fail(fmt.Errorf("%w: task %q never started", ErrShutdown, t.name))
		}
	}
	rt.stopRetries()
	rt.actors.killAll(fmt.Errorf("%w: runtime shut down", ErrActorDied))
	return true
}

// finishShutdown waits for every task and actor to return, then removes
// the spill directory.
func (rt *Runtime) finishShutdown() {
	rt.wg.Wait()
	os.RemoveAll(rt.cfg.spillDir)
	close(rt.down)
}

// wait blocks until obj is complete and returns its value, giving a
// calling task's CPUs back meanwhile.
func (rt *Runtime) wait(ctx context.Context, obj *object) (any, error) {
	if !obj.isDone() {
		h := holderFromContext(ctx)
		if h != nil {
			h.block()
		}
		var err error
		select {
		case <-obj.waitCh():
		case <-ctx.Done():
			err = ctx.Err()
		case <-rt.ctx.Done():
			err = ErrShutdown
		}
		if h != nil {
			h.unblock()
		}
		if err != nil {
			return nil, err
		}
	}
	return rt.store.load(obj)
}

// taskRuntime is the runtime a task runs on.
func taskRuntime(ctx context.Context) *Runtime {
	return taskFromContext(ctx).rt
}

// ClusterResources reports the runtime's total resources ("CPU", "GPU",
// "memory" and custom ones).
func ClusterResources() map[string]float64 {
	rt, err := current()
	if err != nil {
		return nil
	}
	total, _ := rt.front.resources()
	return total
}

// AvailableResources reports what is free right now.
func AvailableResources() map[string]float64 {
	rt, err := current()
	if err != nil {
		return nil
	}
	_, avail := rt.front.resources()
	return avail
}

// ObjectStoreStats reports the default runtime's object store use.
func ObjectStoreStats() StoreStats {
	rt, err := current()
	if err != nil {
		return StoreStats{}
	}
	return rt.front.storeStats()
}

// SpillDir is where the default runtime spills objects.
func SpillDir() string {
	rt, err := current()
	if err != nil {
		return ""
	}
	return rt.cfg.spillDir
}

func totalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 8 << 30
}

// funcInfo is a registered function, callable by name with untyped args
// (what a cluster worker or the command line does).
type funcInfo struct {
	name string
	args []reflect.Type
	call func(ctx context.Context, args []any) (any, error)
}

var registry struct {
	sync.RWMutex
	funcs   map[string]*funcInfo
	classes map[string]*classInfo
	methods map[string]*methodInfo
}

func register(name string, fi *funcInfo) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" {
		panic("goray: core.Func: empty name")
	}
	if registry.funcs == nil {
		registry.funcs = map[string]*funcInfo{}
	}
	if _, dup := registry.funcs[name]; dup {
		panic(fmt.Sprintf("goray: remote function %q registered twice; names must be unique", name))
	}
	registry.funcs[name] = fi
}

// Registered lists the names of every registered remote function.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.funcs))
	for n := range registry.funcs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Call runs a registered function by name with untyped arguments. It is the
// path a cluster worker or a command line takes; typed code uses Remote.
func Call(ctx context.Context, name string, args ...any) Ref[any] {
	registry.RLock()
	fi := registry.funcs[name]
	registry.RUnlock()
	if fi == nil {
		rt, _ := current()
		return failedRef[any](rt, fmt.Errorf("%w: no remote function named %q", ErrNotRegistered, name))
	}
	if len(args) != len(fi.args) {
		rt, _ := current()
		return failedRef[any](rt, fmt.Errorf("%w: %q takes %d argument(s), got %d", ErrInvalidInput, name, len(fi.args), len(args)))
	}
	s := &spec{name: name, opts: defaultTaskOptions()}
	return launch[any](ctx, s, nil, func(ctx context.Context) (any, error) { return fi.call(ctx, args) })
}
