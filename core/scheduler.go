package core

import (
	"fmt"
	"sync"
)

// scheduler runs tasks when the resources they ask for are free. It never
// lets running tasks hold more than the total.
//
// Waiting tasks are queued by resource shape, one FIFO per shape, the way
// Ray's raylet queues by scheduling class; actors waiting for their
// lifetime resources wait in a list of their own. Requests are served in
// arrival order, but one that does not fit does not hold up those behind
// it: any later request that fits the free resources starts (backfill).
//
// Fairness: a request passed that way maxBypass times is starved. If it
// could fit once the running tasks end (not counting tasks blocked in Get,
// which may wait for work queued behind it, nor what actors hold for
// life), later requests then start only if they fit beside it, so the
// free resources gather for it; a big task is not starved for ever by a
// stream of small ones. A request that cannot fit until an actor goes
// (say an actor asking for 4 of 4 CPUs while another holds 2) holds
// nothing back.
type scheduler struct {
	rt *Runtime

	mu      sync.Mutex
	total   resources
	avail   resources
	held    resources       // what running tasks hold: what their ends give back
	blocked resources       // what tasks blocked in Get hold (their CPUs are lent to avail)
	classes []*shapeQueue   // waiting tasks, one FIFO per resource shape
	queued  int             // tasks in classes
	waiter  []*resourceWait // actors waiting for their lifetime resources, oldest first
	seq     uint64          // arrival order of waiting requests

	// passed is the arrival number of the oldest waiting request and
	// bypassed how many later ones started ahead of it.
	passed   uint64
	bypassed int
}

// maxBypass is how many later requests may start ahead of the oldest
// waiting one before it holds the free resources back for itself.
const maxBypass = 64

// shapeQueue is the FIFO of waiting tasks of one resource shape;
// tasks[head:] is live, and seqs[i] is the arrival number of tasks[i]
// (kept here, not in the task, which stays small).
type shapeQueue struct {
	res   resources
	tasks []*task
	seqs  []uint64
	head  int
}

func (q *shapeQueue) len() int { return len(q.tasks) - q.head }

// resourceWait is a blocked acquire (actor start), woken when resources free.
type resourceWait struct {
	req   *resources
	ready chan struct{}
	done  bool
	seq   uint64
}

// pending is one waiting request: the head of a shape queue or an actor's
// acquire.
type pending struct {
	seq uint64
	res *resources
	q   *shapeQueue
	w   int // index in waiter when q is nil
}

func newScheduler(rt *Runtime, total resources) *scheduler {
	return &scheduler{rt: rt, total: total.clone(), avail: total.clone()}
}

func (s *scheduler) Total() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total.toMap()
}

func (s *scheduler) Available() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.avail.toMap()
}

// feasible reports an error if req can never fit.
func (s *scheduler) feasible(kind, name string, req *resources) error {
	if !s.total.fits(req) {
		return fmt.Errorf("%w: %s %q asks for %v but the runtime has %v in total", ErrInfeasible, kind, name, req.String(), s.total.String())
	}
	return nil
}

// submit queues t, starting it at once if it fits and nothing waits, or
// if it fits around what waits (see scheduler). A task submitted after
// shutdown began fails with ErrShutdown; the check and the worker count
// happen under the lock that drain takes, so Shutdown never waits on a
// worker it did not count.
func (s *scheduler) submit(t *task) {
	s.mu.Lock()
	if s.rt.closed.Load() {
		s.mu.Unlock()
		if t.state.CompareAndSwap(taskQueued, taskCancelled) {
			t.fail(fmt.Errorf("%w: task %q submitted during shutdown", ErrShutdown, t.name))
		}
		return
	}
	if s.queued == 0 && len(s.waiter) == 0 && fitsIn(&s.avail, &t.opts.res) {
		s.take(&t.opts.res)
		s.rt.wg.Add(1)
		s.mu.Unlock()
		s.rt.runWorker(t)
		return
	}
	q := s.classFor(&t.opts.res)
	ahead := q.len()
	s.push(q, t)
	if ahead > 0 { // the tasks of its shape ahead of it do not fit: nor does it
		s.mu.Unlock()
		return
	}
	first, extra := s.dispatchLocked()
	n := len(extra)
	if first != nil {
		n++
	}
	s.rt.wg.Add(n)
	s.mu.Unlock()
	if first != nil {
		s.rt.runWorker(first)
	}
	for _, x := range extra {
		s.rt.runWorker(x)
	}
}

// take gives req to a task. Caller holds s.mu.
func (s *scheduler) take(req *resources) {
	subFrom(&s.avail, req)
	addTo(&s.held, req)
}

// classFor returns the queue of req's shape, making it. Caller holds s.mu.
func (s *scheduler) classFor(req *resources) *shapeQueue {
	if q := s.classOf(req); q != nil {
		return q
	}
	if len(s.classes) >= 16 { // forget shapes no task waits for
		live := s.classes[:0]
		for _, q := range s.classes {
			if q.len() > 0 {
				live = append(live, q)
			}
		}
		clear(s.classes[len(live):])
		s.classes = live
	}
	q := &shapeQueue{res: req.clone()}
	s.classes = append(s.classes, q)
	return q
}

// classOf returns the queue of req's shape, or nil. Caller holds s.mu.
func (s *scheduler) classOf(req *resources) *shapeQueue {
	for _, q := range s.classes {
		if sameShape(&q.res, req) {
			return q
		}
	}
	return nil
}

func sameShape(a, b *resources) bool {
	if a.cpu != b.cpu || a.gpu != b.gpu || a.mem != b.mem || len(a.custom) != len(b.custom) {
		return false
	}
	for k, v := range a.custom {
		if w, ok := b.custom[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// push appends t to q. Caller holds s.mu.
func (s *scheduler) push(q *shapeQueue, t *task) {
	s.seq++
	q.tasks = append(q.tasks, t)
	q.seqs = append(q.seqs, s.seq)
	s.queued++
}

// pop takes q's head off. Caller holds s.mu.
func (s *scheduler) pop(q *shapeQueue) *task {
	t := q.tasks[q.head]
	q.tasks[q.head] = nil
	q.head++
	s.queued--
	if q.head == len(q.tasks) {
		q.tasks, q.seqs, q.head = q.tasks[:0], q.seqs[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.tasks) {
		n := copy(q.tasks, q.tasks[q.head:])
		copy(q.seqs, q.seqs[q.head:])
		clear(q.tasks[n:])
		q.tasks, q.seqs, q.head = q.tasks[:n], q.seqs[:n], 0
	}
	return t
}

// headOf returns q's first live task, dropping cancelled ones, or nil.
// Caller holds s.mu.
func (s *scheduler) headOf(q *shapeQueue) *task {
	for q.len() > 0 {
		t := q.tasks[q.head]
		if t.state.Load() != taskCancelled {
			return t
		}
		s.pop(q)
	}
	return nil
}

// oldestLocked returns the request that has waited longest, skipping
// skip (the request already known not to fit), among those that fit room
// when room is not nil.
func (s *scheduler) oldestLocked(room *resources, skip *pending) (pending, bool) {
	var best pending
	found := false
	for _, q := range s.classes {
		if skip != nil && skip.q == q {
			continue
		}
		if s.headOf(q) == nil || found && q.seqs[q.head] > best.seq || room != nil && !fitsIn(room, &q.res) {
			continue
		}
		best, found = pending{seq: q.seqs[q.head], res: &q.res, q: q}, true
	}
	for i, w := range s.waiter {
		if skip != nil && skip.q == nil && skip.w == i {
			continue
		}
		if found && w.seq > best.seq || room != nil && !fitsIn(room, w.req) {
			continue
		}
		best, found = pending{seq: w.seq, res: w.req, w: i}, true
	}
	return best, found
}

// grantLocked gives p its resources; a task is returned to be run.
func (s *scheduler) grantLocked(p pending) *task {
	if p.q != nil {
		t := s.pop(p.q)
		s.take(&t.opts.res)
		return t
	}
	w := s.waiter[p.w]
	subFrom(&s.avail, w.req)
	w.done = true
	close(w.ready)
	s.waiter = append(s.waiter[:p.w], s.waiter[p.w+1:]...)
	return nil
}

// passLocked counts n requests started ahead of the oldest waiting one, x.
func (s *scheduler) passLocked(x pending, n int) {
	if s.passed != x.seq {
		s.passed, s.bypassed = x.seq, 0
	}
	s.bypassed += n
}

// starvedLocked reports whether x, the oldest waiting request, was passed
// maxBypass times and would fit once the running tasks that are not
// blocked end, so that the free resources should gather for it.
func (s *scheduler) starvedLocked(x pending) bool {
	if s.passed != x.seq || s.bypassed < maxBypass {
		return false
	}
	return s.couldFitLocked(x.res)
}

// couldFitLocked reports whether req would fit once the running tasks that
// are not blocked in Get end: tasks blocked may wait for work queued
// behind req, and actors hold their resources for life.
//
//go:noinline
func (s *scheduler) couldFitLocked(req *resources) bool {
	f := s.avail.clone()
	addTo(&f, &s.held)
	subFrom(&f, &s.blocked)
	f.cpu -= s.blocked.cpu // lent to avail while they block
	return f.fits(req)
}

// besideLocked is what is free once req is set aside.
//
//go:noinline
func (s *scheduler) besideLocked(req *resources) resources {
	b := s.avail.clone()
	subFrom(&b, req)
	return b
}

// dispatchLocked starts every waiting request that fits now, oldest first,
// letting later ones pass one that does not fit unless it is starved.
// Actors are woken; of the tasks, the first is for the calling worker and
// the rest need workers of their own.
func (s *scheduler) dispatchLocked() (first *task, extra []*task) {
	for {
		p, ok := s.oldestLocked(nil, nil)
		if !ok {
			return first, extra
		}
		if !fitsIn(&s.avail, p.res) {
			if s.queued+len(s.waiter) > 1 {
				first, extra = s.backfillLocked(p, first, extra)
			}
			return first, extra
		}
		if t := s.grantLocked(p); t != nil {
			if first == nil {
				first = t
			} else {
				extra = append(extra, t)
			}
		}
	}
}

// backfillLocked starts, oldest first, the requests after x, the oldest,
// that fit: into the free resources, or into what x leaves of them if x is
// starved. It is out of line to keep dispatchLocked's frame small.
//
//go:noinline
func (s *scheduler) backfillLocked(x pending, first *task, extra []*task) (*task, []*task) {
	room := &s.avail
	var beside resources
	if s.starvedLocked(x) {
		beside = s.besideLocked(x.res)
		room = &beside
	}
	for {
		p, ok := s.oldestLocked(room, &x)
		if !ok {
			return first, extra
		}
		if room == &beside {
			subFrom(&beside, p.res)
		}
		if p.q == nil && x.q == nil && p.w < x.w {
			x.w-- // x's index moves down as p leaves the list
		}
		if t := s.grantLocked(p); t != nil {
			if first == nil {
				first = t
			} else {
				extra = append(extra, t)
			}
		}
		s.passLocked(x, 1)
	}
}

// maxBatch bounds how many queued tasks a worker takes at once.
const maxBatch = 64

// next refills w's batch once it ran out. Queued tasks of the same shape as
// the resources w holds go to w without touching the pool, a few at a time
// (so other workers get their share); otherwise w's resources go back and
// w gets whatever fits first, other fitting tasks getting workers of their
// own. An empty batch means w is done.
func (s *scheduler) next(held *resources, w *worker) {
	s.mu.Lock()
	n := 0
	if s.queued > 0 {
		if q := s.classOf(held); q != nil && s.headOf(q) != nil {
			want := min(max(q.len()/(2*max(int(s.total.cpu), 1)), 1), maxBatch)
			x, _ := s.oldestLocked(nil, nil)
			passing := x.q != q
			if passing && s.couldFitLocked(x.res) {
				// Pass a request that could fit at most maxBypass times.
				if s.passed != x.seq {
					s.passed, s.bypassed = x.seq, 0
				}
				want = min(want, maxBypass-s.bypassed)
			}
			for n < want && s.headOf(q) != nil {
				w.batch = append(w.batch, s.pop(q))
				n++
			}
			if passing && n > 0 {
				s.passLocked(x, n)
			}
		}
	}
	if n > 0 {
		s.mu.Unlock()
		return
	}
	addTo(&s.avail, held)
	subFrom(&s.held, held)
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	if first != nil {
		w.batch = append(w.batch, first)
	}
	for _, t := range extra {
		s.rt.startWorker(t)
	}
}

// release returns resources to the pool and starts what now fits.
func (s *scheduler) release(r *resources) {
	s.mu.Lock()
	addTo(&s.avail, r)
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(first, extra)
}

// requeue puts tasks a worker took but did not start back at the head of
// their queues, in order, ahead of everything that waits (they were
// dispatched already).
func (s *scheduler) requeue(ts []*task) {
	if len(ts) == 0 {
		return
	}
	s.mu.Lock()
	for i := len(ts) - 1; i >= 0; i-- {
		t := ts[i]
		q := s.classFor(&t.opts.res)
		if q.head > 0 {
			q.head--
			q.tasks[q.head], q.seqs[q.head] = t, 0
		} else {
			q.tasks = append([]*task{t}, q.tasks...)
			q.seqs = append([]uint64{0}, q.seqs...)
		}
		s.queued++
	}
	// The requeued tasks may fit resources that are free right now.
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(first, extra)
}

// remove takes a queued task out (cancel); it reports whether it was queued.
func (s *scheduler) remove(t *task) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.classOf(&t.opts.res)
	if q == nil {
		return false
	}
	for i := q.head; i < len(q.tasks); i++ {
		if q.tasks[i] == t {
			if i == q.head {
				s.pop(q)
				return true
			}
			copy(q.tasks[i:], q.tasks[i+1:])
			copy(q.seqs[i:], q.seqs[i+1:])
			q.tasks[len(q.tasks)-1] = nil
			q.tasks, q.seqs = q.tasks[:len(q.tasks)-1], q.seqs[:len(q.seqs)-1]
			s.queued--
			return true
		}
	}
	return false
}

// drain empties the queues on shutdown and returns what was waiting.
func (s *scheduler) drain() []*task {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*task
	for _, q := range s.classes {
		out = append(out, q.tasks[q.head:]...)
	}
	s.classes, s.queued = nil, 0
	for _, w := range s.waiter {
		if !w.done {
			w.done = true
			w.req = nil
			close(w.ready)
		}
	}
	s.waiter = nil
	return out
}

// block gives a running task's CPUs back while it waits in Get.
func (s *scheduler) block(t *task) {
	if t.blocked.Add(1) != 1 {
		return
	}
	// Tasks this worker took but has not started must not wait behind a
	// blocked task: they may be what it waits for.
	if w := t.w; w != nil && w.pos < len(w.batch) {
		rest := append([]*task(nil), w.batch[w.pos:]...)
		clear(w.batch[w.pos:])
		w.batch = w.batch[:w.pos]
		s.requeue(rest)
	}
	s.mu.Lock()
	addTo(&s.blocked, &t.opts.res)
	if t.opts.res.cpu == 0 {
		s.mu.Unlock()
		return
	}
	s.avail.cpu += t.opts.res.cpu
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(first, extra)
}

// unblock takes the CPUs back once the wait is over. It does not wait for
// them: like Ray, a task that wakes may briefly oversubscribe the node.
func (s *scheduler) unblock(t *task) {
	if t.blocked.Add(-1) != 0 {
		return
	}
	s.mu.Lock()
	s.avail.cpu -= t.opts.res.cpu
	subFrom(&s.blocked, &t.opts.res)
	s.mu.Unlock()
}

// acquire waits until req fits and takes it (actors hold resources for
// life). It waits its turn with the queued tasks (see scheduler).
func (s *scheduler) acquire(done <-chan struct{}, req *resources) bool {
	s.mu.Lock()
	if s.queued == 0 && len(s.waiter) == 0 && fitsIn(&s.avail, req) {
		subFrom(&s.avail, req)
		s.mu.Unlock()
		return true
	}
	s.seq++
	w := &resourceWait{req: req, ready: make(chan struct{}), seq: s.seq}
	s.waiter = append(s.waiter, w)
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(first, extra)
	select {
	case <-w.ready:
		s.mu.Lock()
		ok := w.req != nil
		s.mu.Unlock()
		return ok
	case <-done:
		s.mu.Lock()
		if w.done { // granted just now: give it back
			if w.req != nil {
				addTo(&s.avail, w.req)
			}
		} else {
			w.done = true
			for i, x := range s.waiter {
				if x == w {
					s.waiter = append(s.waiter[:i], s.waiter[i+1:]...)
					break
				}
			}
		}
		next, extra := s.dispatchLocked()
		s.mu.Unlock()
		s.startAll(next, extra)
		return false
	}
}

func (s *scheduler) startAll(next *task, extra []*task) {
	if next != nil {
		s.rt.startWorker(next)
	}
	for _, t := range extra {
		s.rt.startWorker(t)
	}
}

// giveBack returns resources an actor held.
func (s *scheduler) giveBack(r *resources) {
	s.mu.Lock()
	addTo(&s.avail, r)
	next, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(next, extra)
}

// The scheduler's hot frames must stay small: a worker goroutine starts on
// a small stack, and every inlined walk of a map reserves an iterator in
// the frame. Custom resources are rare, so they go out of line.

// fitsIn is room.fits(req).
func fitsIn(room, req *resources) bool {
	if req.cpu > room.cpu+eps || req.gpu > room.gpu+eps || req.mem > room.mem+eps {
		return false
	}
	return len(req.custom) == 0 || customFits(room, req)
}

// addTo is r.add(req).
func addTo(r, req *resources) {
	r.cpu += req.cpu
	r.gpu += req.gpu
	r.mem += req.mem
	if len(req.custom) > 0 {
		addCustom(r, req, 1)
	}
}

// subFrom is r.sub(req), also for an r that lacks some of req's custom keys.
func subFrom(r, req *resources) {
	r.cpu -= req.cpu
	r.gpu -= req.gpu
	r.mem -= req.mem
	if len(req.custom) > 0 {
		addCustom(r, req, -1)
	}
}

//go:noinline
func customFits(room, req *resources) bool { return room.fits(req) }

//go:noinline
func addCustom(r, req *resources, sign float64) {
	if r.custom == nil {
		r.custom = make(map[string]float64, len(req.custom))
	}
	for k, v := range req.custom {
		r.custom[k] += sign * v
	}
}
