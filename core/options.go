package core

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Option is an option that remote functions and actor classes both take:
// the resources a task or actor holds and the retry filters. It is a
// FuncOption and an ActorOption. Options that mean something to only one
// kind have that kind's type (MaxRetries is a FuncOption, MaxConcurrency
// an ActorOption), so a meaningless option does not compile.
type Option func(*options)

// FuncOption configures a remote function, at registration (Func1(name,
// fn, opts...)) or for the calls of a copy (f.Options(opts...)).
type FuncOption interface{ funcOpt(*options) }

// ActorOption configures an actor class, at registration (Actor1(name,
// ctor, opts...)) or for the actors of a copy (c.Options(opts...)).
type ActorOption interface{ actorOpt(*options) }

// MethodOption configures the registration of an actor method (Method1(name,
// fn, opts...)); a method's calls run with its actor's options.
type MethodOption interface{ methodOpt(*options) }

// GetActorOption configures GetActor (Namespace).
type GetActorOption interface{ getActorOpt(*options) }

func (f Option) funcOpt(o *options)  { f(o) }
func (f Option) actorOpt(o *options) { f(o) }

// funcOnly is an option only remote functions take.
type funcOnly func(*options)

func (f funcOnly) funcOpt(o *options) { f(o) }

// actorOnly is an option only actor classes take.
type actorOnly func(*options)

func (f actorOnly) actorOpt(o *options) { f(o) }

type options struct {
	res             resources
	maxRetries      int
	retryExceptions bool
	retryOn         []error
	actor           actorOptions
	maxRestarts     int
	maxTaskRetries  int
	maxConcurrency  int
	name            string
	task            taskOptions
	err             error // first invalid option, reported when the call is made
	cpuSet          bool
	localOnly       bool // registration only: see LocalOnly
}

func defaultTaskOptions() options {
	return options{res: resources{cpu: 1}, maxRetries: 3, maxConcurrency: 1}
}

func defaultActorOptions() options {
	return options{maxConcurrency: 1}
}

func (o *options) applyFunc(opts []FuncOption) {
	for _, f := range opts {
		f.funcOpt(o)
	}
}

func (o *options) applyActor(opts []ActorOption) {
	for _, f := range opts {
		f.actorOpt(o)
	}
}

func (o *options) fail(format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
	}
}

func checkAmount(o *options, what string, v float64) bool {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		o.fail("option %s = %v: must be a finite number >= 0", what, v)
		return false
	}
	return true
}

// NumCPUs is how many CPUs the task or actor holds while it runs (default 1
// for tasks, 0 for actors). As in Ray, an actor without NumCPUs needs one
// free CPU to be placed (none fits a 0-CPU runtime) and then holds none;
// with NumCPUs(n) it needs and holds n.
func NumCPUs(n float64) Option {
	return func(o *options) {
		if checkAmount(o, "NumCPUs", n) {
			o.res.cpu, o.cpuSet = n, true
		}
	}
}

// NumGPUs is how many GPUs the task or actor holds.
func NumGPUs(n float64) Option {
	return func(o *options) {
		if checkAmount(o, "NumGPUs", n) {
			o.res.gpu = n
		}
	}
}

// Memory is how many bytes of memory the task or actor reserves.
func Memory(bytes int64) Option {
	return func(o *options) {
		if checkAmount(o, "Memory", float64(bytes)) {
			o.res.mem = float64(bytes)
		}
	}
}

// Resources reserves custom resources, e.g. {"accelerator": 1}.
func Resources(r map[string]float64) Option {
	return func(o *options) {
		for k, v := range r {
			if !checkAmount(o, "Resources["+k+"]", v) {
				return
			}
		}
		if len(r) > 0 {
			o.res.custom = make(map[string]float64, len(r))
			for k, v := range r {
				o.res.custom[k] = v
			}
		}
	}
}

// MaxRetries is how many times a task is re-run after its worker crashed (a
// panic), default 3. With RetryExceptions, returned errors are retried too;
// with RetryOn, only those of the listed kinds.
func MaxRetries(n int) FuncOption {
	return funcOnly(func(o *options) {
		if n < -1 {
			o.fail("option MaxRetries = %d: must be >= 0 (or -1 for unlimited)", n)
			return
		}
		o.maxRetries = n
	})
}

// RetryExceptions makes a task retry when it returns an error, not only when
// it panics; on an actor class, a method call that returns an error is
// retried within MaxTaskRetries. RetryOn retries only some kinds.
func RetryExceptions(on bool) Option { return func(o *options) { o.retryExceptions = on } }

// MaxRestarts is how many times an actor is restarted after it crashed (default 0).
func MaxRestarts(n int) ActorOption {
	return actorOnly(func(o *options) {
		if n < -1 {
			o.fail("option MaxRestarts = %d: must be >= 0 (or -1 for unlimited)", n)
			return
		}
		o.maxRestarts = n
	})
}

// MaxTaskRetries is how many times an actor method call is re-run on a
// restarted actor after the actor crashed during it (default 0), or, with
// RetryOn or RetryExceptions, after it returned an error that is retried.
func MaxTaskRetries(n int) ActorOption {
	return actorOnly(func(o *options) {
		if n < -1 {
			o.fail("option MaxTaskRetries = %d: must be >= 0 (or -1 for unlimited)", n)
			return
		}
		o.maxTaskRetries = n
	})
}

// MaxConcurrency lets an actor run up to n method calls at once (default 1:
// calls run one at a time in submission order).
func MaxConcurrency(n int) ActorOption {
	return actorOnly(func(o *options) {
		if n < 1 {
			o.fail("option MaxConcurrency = %d: must be >= 1", n)
			return
		}
		o.maxConcurrency = n
	})
}

// Name names an actor so that GetActor can find it.
func Name(name string) ActorOption {
	return actorOnly(func(o *options) {
		if name == "" {
			o.fail("option Name: must not be empty")
			return
		}
		o.name = name
	})
}

// resources is a request or a capacity. Custom resources are rare, so they
// live in a map that is nil for the common case.
type resources struct {
	cpu, gpu, mem float64
	custom        map[string]float64
}

func (r resources) String() string {
	parts := []string{fmt.Sprintf("CPU=%g", r.cpu)}
	if r.gpu != 0 {
		parts = append(parts, fmt.Sprintf("GPU=%g", r.gpu))
	}
	if r.mem != 0 {
		parts = append(parts, fmt.Sprintf("memory=%.0f", r.mem))
	}
	keys := make([]string, 0, len(r.custom))
	for k := range r.custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%g", k, r.custom[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

const eps = 1e-9

// fits reports whether req fits into r.
func (r *resources) fits(req *resources) bool {
	if req.cpu > r.cpu+eps || req.gpu > r.gpu+eps || req.mem > r.mem+eps {
		return false
	}
	for k, v := range req.custom {
		if v > r.custom[k]+eps {
			return false
		}
	}
	return true
}

func (r *resources) sub(req *resources) {
	r.cpu -= req.cpu
	r.gpu -= req.gpu
	r.mem -= req.mem
	for k, v := range req.custom {
		r.custom[k] -= v
	}
}

func (r *resources) add(req *resources) {
	r.cpu += req.cpu
	r.gpu += req.gpu
	r.mem += req.mem
	for k, v := range req.custom {
		if r.custom == nil {
			r.custom = map[string]float64{}
		}
		r.custom[k] += v
	}
}

func (r *resources) clone() resources {
	c := *r
	if r.custom != nil {
		c.custom = make(map[string]float64, len(r.custom))
		for k, v := range r.custom {
			c.custom[k] = v
		}
	}
	return c
}

// Resources reports the runtime's total resources as a map with the keys
// "CPU", "GPU", "memory" and every custom resource.
func (r resources) toMap() map[string]float64 {
	m := map[string]float64{"CPU": r.cpu, "GPU": r.gpu, "memory": r.mem}
	for k, v := range r.custom {
		m[k] = v
	}
	return m
}
