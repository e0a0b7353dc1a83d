package core

import (
	"fmt"
	"sync"
)

// Scheduler is the part of a runtime that decides when and where tasks
// run. The embedded runtime has one local node; a cluster backend places
// tasks on nodes.
type Scheduler interface {
	// Total and Available report resources as {"CPU": .., "GPU": .., "memory": .., custom...}.
	Total() map[string]float64
	Available() map[string]float64
}

// scheduler runs tasks when the resources they ask for are free. It never
// lets running tasks hold more than the total. Tasks wait in FIFO order; a
// task that does not fit lets smaller ones behind it go first.
type scheduler struct {
	rt *Runtime

	mu     sync.Mutex
	total  resources
	avail  resources
	queue  []*task // waiting tasks; queue[head:] is live
	head   int
	waiter []*resourceWait // actors waiting for their lifetime resources
}

// resourceWait is a blocked acquire (actor start), woken when resources free.
type resourceWait struct {
	req   *resources
	ready chan struct{}
	done  bool
}

var _ Scheduler = (*scheduler)(nil)

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

// submit queues t, starting it at once if it fits and nothing waits ahead.
// A task submitted after shutdown began fails with ErrShutdown; the check
// and the worker count happen under the lock that drain takes, so Shutdown
// never waits on a worker it did not count.
func (s *scheduler) submit(t *task) {
	s.mu.Lock()
	if s.rt.closed.Load() {
		s.mu.Unlock()
		if t.state.CompareAndSwap(taskQueued, taskCancelled) {
			t.fail(fmt.Errorf("%w: task %q submitted during shutdown", ErrShutdown, t.name))
		}
		return
	}
	if len(s.queue) == s.head && len(s.waiter) == 0 && s.avail.fits(&t.opts.res) {
		s.avail.sub(&t.opts.res)
		s.rt.wg.Add(1)
		s.mu.Unlock()
		s.rt.runWorker(t)
		return
	}
	s.queue = append(s.queue, t)
	s.mu.Unlock()
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
	if s.head < len(s.queue) && len(s.waiter) == 0 {
		pending := len(s.queue) - s.head
		want := min(max(pending/(2*max(int(s.total.cpu), 1)), 1), maxBatch)
		for s.head < len(s.queue) && n < want {
			t := s.queue[s.head]
			if t != nil && t.state.Load() != taskCancelled && !sameShape(&t.opts.res, held) {
				break
			}
			s.removeAt(s.head)
			if t != nil && t.state.Load() != taskCancelled {
				w.batch = append(w.batch, t)
				n++
			}
		}
	}
	if n > 0 {
		s.mu.Unlock()
		return
	}
	s.avail.add(held)
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	if first != nil {
		w.batch = append(w.batch, first)
	}
	for _, t := range extra {
		s.rt.startWorker(t)
	}
}

func sameShape(a, b *resources) bool {
	return a.cpu == b.cpu && a.gpu == b.gpu && a.mem == b.mem && len(a.custom) == 0 && len(b.custom) == 0
}

// release returns resources to the pool and starts what now fits.
func (s *scheduler) release(r *resources) {
	s.mu.Lock()
	s.avail.add(r)
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(first, extra)
}

// requeue puts tasks back at the head of the queue, in order.
func (s *scheduler) requeue(ts []*task) {
	if len(ts) == 0 {
		return
	}
	s.mu.Lock()
	live := s.queue[s.head:]
	q := make([]*task, 0, len(ts)+len(live))
	q = append(q, ts...)
	q = append(q, live...)
	s.queue, s.head = q, 0
	// The requeued tasks may fit resources that are free right now.
	first, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(first, extra)
}

// dispatchLocked takes every waiting task that fits now. The first is for
// the calling worker; the rest need workers of their own.
func (s *scheduler) dispatchLocked() (first *task, extra []*task) {
	s.wakeWaitersLocked()
	const scan = 64 // bound the search past a task that does not fit
	for i, seen := s.head, 0; i < len(s.queue) && seen < scan; seen++ {
		t := s.queue[i]
		if t == nil || t.state.Load() == taskCancelled {
			i = s.removeAt(i)
			continue
		}
		if !s.avail.fits(&t.opts.res) {
			i++
			continue
		}
		s.avail.sub(&t.opts.res)
		i = s.removeAt(i)
		if first == nil {
			first = t
		} else {
			extra = append(extra, t)
		}
		if s.avail.cpu < eps && s.avail.gpu < eps {
			break
		}
	}
	return first, extra
}

// removeAt deletes queue[i] and returns the index of the element that
// followed it.
func (s *scheduler) removeAt(i int) int {
	if i == s.head {
		s.queue[i] = nil
		s.head++
		if s.head == len(s.queue) {
			s.queue, s.head = s.queue[:0], 0
		} else if s.head > 1024 && s.head*2 > len(s.queue) {
			n := copy(s.queue, s.queue[s.head:])
			clear(s.queue[n:])
			s.queue, s.head = s.queue[:n], 0
		}
		return s.head
	}
	copy(s.queue[i:], s.queue[i+1:])
	s.queue[len(s.queue)-1] = nil
	s.queue = s.queue[:len(s.queue)-1]
	return i
}

// remove takes a queued task out (cancel); it reports whether it was queued.
func (s *scheduler) remove(t *task) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := s.head; i < len(s.queue); i++ {
		if s.queue[i] == t {
			s.removeAt(i)
			return true
		}
	}
	return false
}

// drain empties the queue on shutdown and returns what was waiting.
func (s *scheduler) drain() []*task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]*task(nil), s.queue[s.head:]...)
	s.queue, s.head = nil, 0
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
	r := resources{cpu: t.opts.res.cpu}
	if r.cpu == 0 {
		return
	}
	s.release(&r)
}

// unblock takes the CPUs back once the wait is over. It does not wait for
// them: like Ray, a task that wakes may briefly oversubscribe the node.
func (s *scheduler) unblock(t *task) {
	if t.blocked.Add(-1) != 0 || t.opts.res.cpu == 0 {
		return
	}
	s.mu.Lock()
	s.avail.cpu -= t.opts.res.cpu
	s.mu.Unlock()
}

// acquire waits until req fits and takes it (actors hold resources for life).
func (s *scheduler) acquire(done <-chan struct{}, req *resources) bool {
	s.mu.Lock()
	if len(s.waiter) == 0 && s.avail.fits(req) {
		s.avail.sub(req)
		s.mu.Unlock()
		return true
	}
	w := &resourceWait{req: req, ready: make(chan struct{})}
	s.waiter = append(s.waiter, w)
	s.mu.Unlock()
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
				s.avail.add(w.req)
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

// wakeWaitersLocked grants resources to waiting actors, oldest first. They
// go before queued tasks so a stream of small tasks cannot starve an actor.
func (s *scheduler) wakeWaitersLocked() {
	for len(s.waiter) > 0 {
		w := s.waiter[0]
		if !s.avail.fits(w.req) {
			return
		}
		s.avail.sub(w.req)
		w.done = true
		close(w.ready)
		s.waiter = s.waiter[1:]
	}
}

// giveBack returns resources an actor held.
func (s *scheduler) giveBack(r *resources) {
	s.mu.Lock()
	s.avail.add(r)
	next, extra := s.dispatchLocked()
	s.mu.Unlock()
	s.startAll(next, extra)
}
