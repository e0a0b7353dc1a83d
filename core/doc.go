// Package core is goray's task and actor runtime: typed remote functions
// and actors, refs (futures), Put/Get/Wait, an object store that spills to
// disk, and a scheduler that never runs more than the resources allow.
//
// The runtime is embedded in the user's process by default, the way
// ray.init() starts one on a laptop. The same user code is meant to run on
// a multi-node cluster: functions, actor classes and methods are registered
// by name at package init, values cross a strict codec boundary (a registered
// Codec, else CBOR; bytes and strings raw, protobuf, Arrow IPC) that the
// embedded runtime bypasses unless WithEncodeAll is set, and every
// package-level call goes through one backend (see Backends below), whose
// embedded implementation holds the scheduler, object store and actor
// directory.
//
// The first call a user makes is a registration, then a Remote call:
//
//	var Square = core.Func1("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	ref := Square.Remote(ctx, 3)  // returns at once
//	v, err := core.Get(ctx, ref)  // 9
//
// Any argument can be a ref instead of a value (RemoteArgs), so tasks form
// dynamic graphs; tasks may submit tasks, and a task blocked in Get gives
// its CPU back so nested work never deadlocks the pool. Actors are Go types
// with a constructor (Actor0..Actor3) and methods (Method0..Method3); calls
// on one actor run one at a time, unless MaxConcurrency says otherwise.
// As in Ray, a call's ref arguments (RemoteArgs) are resolved before it
// enters the actor's mailbox, and the calls of one caller (a task, an
// actor, or the program itself) run in the order it made them: a call
// waiting for its arguments holds back that caller's later calls, never
// another caller's (AllowOutOfOrderExecution drops the order; a
// MaxConcurrency actor keeps none). Named actors (Name) live in a
// namespace (Namespace, WithNamespace) where GetActor finds them;
// GetIfExists gets or creates one. Lifetimes are Ray's: an actor stops,
// and gives its resources back, once no handle to it is reachable (after
// the calls already made to it), named or not, and it dies with the actor
// that created it; a Detached actor stays until Kill or Shutdown.
//
// Several returns (Ray's num_returns): FuncAxB registers a function of A
// arguments and B = 2 or 3 results, whose Remote returns one ref per
// result; FuncAxN one whose []R result is split into NumReturns(n) refs,
// n set per call with Options. Each result is its own object, named by
// the task's ID and its index (Ref.ID, ParseObjectID): it can be passed
// on, waited on and released alone, and releasing one does not free the
// others. An error fails every result; Cancel on any cancels the task.
//
//	var DivMod = core.Func2x2("divmod", func(ctx context.Context, a, b int) (int, int, error) {
//		return a / b, a % b, nil
//	})
//	q, r := DivMod.Remote(ctx, 17, 5)
//
// Generators (Ray's num_returns="streaming", ObjectRefGenerator): Gen0..Gen4
// register a function that yields values one at a time; Remote returns a
// *Generator whose Next and All hand out each value's ref as soon as it is
// yielded, while the task runs on. An error returned after k yields comes
// after the k refs. GeneratorBackpressure(n) makes yield wait while n
// values are not taken; a waiting producer, and a caller waiting in Next
// inside a task, give their CPUs back. Leaving the range loop early,
// Generator.Cancel, the caller's context ending or the Generator being
// garbage collected unread stops the task; a retried generator does not
// hand out again the values its failed attempt handed out.
//
//	var Lines = core.Gen1("lines", func(ctx context.Context, path string, yield func(string) error) error {
//		...
//		if err := yield(line); err != nil {
//			return err // the caller stopped reading
//		}
//		...
//	})
//
// Actor methods have both too. Method0x2..Method3x3 register a method of
// 2 or 3 results (Ray's num_returns on an actor method): one call, one
// object per result, named by the call's ID and the index; an error fails
// them all and Cancel through any cancels the call. GenMethod0..GenMethod3
// register a streaming generator method: Remote returns the same
// *Generator as Gen tasks. The call holds its actor like any call, so on a
// one-at-a-time actor the next call starts once the generator returned.
// Backpressure is per handle, m.WithBackpressure(n) (Ray's
// method.options(_generator_backpressure_num_objects=n)); a method's
// registration takes only LocalOnly. Kill fails the stream with
// ErrActorDied after the refs yielded before it; leaving the loop,
// Cancel, the caller's ctx or GC of the Generator cancel the call
// (ErrTaskCancelled), and a call retried on a restarted actor
// (MaxTaskRetries) does not hand out its values twice.
//
//	var Chunks = core.GenMethod1("Reader.Chunks", func(r *Reader, ctx context.Context, n int, yield func([]byte) error) error { ... })
//	for ref, err := range Chunks.WithBackpressure(4).Remote(ctx, h, 64).All(ctx) { ... }
//	for ref, err := range Lines.Remote(ctx, "in.txt").All(ctx) { ... }
//
// Retries: RetryOn(kinds...) retries a task, up to MaxRetries, only on a
// returned error that matches one of kinds (Ray's retry_exceptions=[...]);
// in encode-all mode, as on a cluster, the error has crossed the codec, so
// only the runtime's categories and errors registered with RegisterError
// match.
//
// Scheduling: a task or actor waits until the resources it asks for are
// free. Waiting requests are served in arrival order, but one that does not
// fit does not hold up later ones that do (queues are kept per resource
// shape, as Ray's raylet keeps them per scheduling class): with 4 CPUs, an
// actor holding 2 and another waiting for 4, a 1-CPU task still starts at
// once. A request passed over 64 times that would fit once the running
// tasks end gets the free resources gathered for it, so a stream of small
// tasks does not starve a big one.
//
// CheckRegistrations walks every registration through the wire spec of a
// call and the lookup by name, as a worker on another node would, without
// running user code: call it from a test to know that what a program
// registers can be dispatched on a cluster.
//
// Options are typed by what they configure: an Option (NumCPUs, NumGPUs,
// Memory, Resources, RetryExceptions, RetryOn) fits functions and actor
// classes; a FuncOption (MaxRetries, NumReturns, GeneratorBackpressure)
// only functions; an ActorOption (MaxRestarts, MaxTaskRetries,
// MaxConcurrency, Name, Namespace, Detached, GetIfExists,
// AllowOutOfOrderExecution) only actor classes; GetActor takes Namespace;
// a method's registration takes LocalOnly. A meaningless combination, such
// as MaxConcurrency on a function, does not compile.
//
// Failures: a returned error is an application error (ErrTaskFailed),
// retried only with RetryExceptions or RetryOn; a panic is a crashed worker
// (ErrWorkerCrashed) and is retried up to MaxRetries (default 3). Retries
// and actor restarts back off exponentially (1 ms doubling up to 1 s). An
// actor that panics, in a call or in its constructor, is restarted up to
// MaxRestarts times, after which its calls fail with ErrActorDied carrying
// the last panic; a constructor that returns an error kills the actor at
// once, as an exception in a Ray actor's __init__ does. Calls running when
// their actor crashes or is killed fail with ErrActorDied (or run again on
// the restarted actor, MaxTaskRetries); one that returns an error runs
// again, within MaxTaskRetries, only if the error is of a kind RetryOn
// lists (any, with RetryExceptions). A killed actor drops its instance
// at once, so what it held (refs included) is freed even while handles to
// it remain; Kill(h, NoRestart(false)) restarts it instead, within
// MaxRestarts. A panic never brings the process down.
//
// Cancellation: the ctx given to Remote or to an actor call cancels the
// task or call when it ends; Cancel stops a task and, unless
// Recursive(false), the tasks it submitted; Force abandons a task that does
// not watch its context. Cancel on an actor call's ref takes a queued call
// out of the mailbox, or cancels a running one's context; Force is refused
// for actor calls, as in Ray. After Shutdown every call fails with ErrShutdown
// until Init starts a new runtime.
//
// Refs and actor handles are values that travel: a Ref[T] or an
// *ActorHandle[T] can be a task's argument (Func1[Ref[int], int]) or
// result, a struct field or a slice element, and it works where it
// arrives. Across the codec it goes as its wire form, the object's or
// actor's ID and the owner's address (corepb.ObjectRef, corepb.ActorRef),
// and decodes to a new handle in the runtime that owns it; an ID that
// runtime does not know fails to decode (ErrInvalidInput, or
// ErrObjectFreed once freed).
//
// IDs follow Ray's layout (ids.go): every object has one ObjectID, which
// Ref.ObjectID returns and Ref.ID shows (its String form, which
// ParseObjectID reads back), the same on the wire. The index-th task a
// task submits is NewTaskID(parent, index), counted from 1 per parent
// (the driver, DriverTaskID of the job, outside any task; in an actor, its
// ActorCreationTaskID), so a task's ID says where it comes from;
// CurrentTaskID returns the running one's. A task's results are
// ReturnObjectID(task, 1..n) (a generator's values in the order yielded),
// a method call's ReturnObjectID(NewActorTaskID(actor, caller, index), 1),
// and the index-th value a task puts is PutObjectID(task, index).
//
// Objects are counted as Ray's ownership model counts them: the runtime
// that makes an object owns it, and frees it when no holder is left: no
// handle in this process (the garbage collector notices unreachable ones,
// Release drops one at once), no submitted task that carries the ref in
// an argument (it holds the object until it finishes), no object whose
// value holds the ref (a nested ref lives as long as its outer object, and
// a ref a task returns as long as the task's result), no borrower in
// another process. ObjectStoreStats.OwnedRefs counts the objects whose
// refs left their handles and are tracked by the owner's table.
//
// Resources: a task holds its NumCPUs (default 1) while it runs; an actor
// holds its resources for its whole life. An actor without NumCPUs is
// placed, as in Ray, only where a CPU is free (so never on a 0-CPU
// runtime) and then holds none, so any number of them run beside tasks.
// Unlike Ray, which keeps an actor's resources while it blocks in ray.get,
// an actor call blocked in Get, Wait or Ready gives the actor's CPUs back
// until it wakes, as a task does: actors holding every CPU (a trainer's
// workers) can then wait on the tasks they submit (the dataset they
// stream) instead of deadlocking the runtime.
//
// Backends: every package-level call goes through the backend Init
// chose. With no address it is the embedded runtime; WithAddress or
// GORAY_ADDRESS ask for the cluster backend, which is not built yet: Init
// then returns an error wrapping ErrNotImplemented rather than running
// embedded. In encode-all mode a call reaches the backend as its wire spec
// (corepb.TaskSpec), which the backend decodes and runs by name as a
// cluster worker would; otherwise the embedded backend runs the typed code
// directly.
//
// Values stored in the embedded object store are not copied. Treat them as
// immutable: on a cluster they are copied, so code that relies on sharing
// by pointer would behave differently there.
package core
