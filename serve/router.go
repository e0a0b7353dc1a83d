package serve

import (
	"context"
	"math/rand/v2"
	"sync"
)

// replica is one running replica as the router sees it. Its counters are
// guarded by the router's mutex.
type replica struct {
	id      string
	version int
	conn    replicaConn

	// Guarded by the router's mutex.
	ongoing     int
	routable    bool          // in router.replicas
	drained     chan struct{} // closed when out of rotation and ongoing reaches 0
	drainClosed bool

	// Owned by the controller loop.
	stopping bool // being drained and stopped
}

// router spreads one deployment's requests over its replicas: the less
// loaded of two random replicas with room; when none has room the request
// waits in a FIFO queue up to maxQueued; past that it fails at once.
type router struct {
	mu         sync.Mutex
	replicas   []*replica // routable replicas
	maxOngoing int
	maxQueued  int // -1: no limit
	waiters    []*waiter
	head       int // waiters[head:] are live or cancelled entries
	queued     int // live waiters
	ongoing    int // acquired and not yet released, over all replicas
	stopped    bool
}

type waiter struct {
	ch        chan *replica // buffered 1; receives the replica reserved for it
	cancelled bool
}

func newRouter(maxOngoing, maxQueued int) *router {
	return &router{maxOngoing: maxOngoing, maxQueued: maxQueued}
}

// pickLocked chooses a replica with room: the less loaded of two random
// ones, or failing that any with room. nil if all are full.
func (rt *router) pickLocked() *replica {
	n := len(rt.replicas)
	switch n {
	case 0:
		return nil
	case 1:
		if r := rt.replicas[0]; r.ongoing < rt.maxOngoing {
			return r
		}
		return nil
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	a, b := rt.replicas[i], rt.replicas[j]
	if b.ongoing < a.ongoing {
		a = b
	}
	if a.ongoing < rt.maxOngoing {
		return a
	}
	// Both sampled replicas are full; take the least loaded with room.
	var best *replica
	for _, r := range rt.replicas {
		if r.ongoing < rt.maxOngoing && (best == nil || r.ongoing < best.ongoing) {
			best = r
		}
	}
	return best
}

// acquire reserves a slot on a replica, waiting in the queue if all are
// full. The caller must release the replica.
func (rt *router) acquire(ctx context.Context) (*replica, error) {
	rt.mu.Lock()
	if rt.stopped {
		rt.mu.Unlock()
		return nil, ErrStopped
	}
	if r := rt.pickLocked(); r != nil {
		r.ongoing++
		rt.ongoing++
		rt.mu.Unlock()
		return r, nil
	}
	if rt.maxQueued >= 0 && rt.queued >= rt.maxQueued {
		rt.mu.Unlock()
		return nil, ErrOverloaded
	}
	w := &waiter{ch: make(chan *replica, 1)}
	rt.waiters = append(rt.waiters, w)
	rt.queued++
	rt.mu.Unlock()

	select {
	case r := <-w.ch:
		if r == nil {
			return nil, ErrStopped
		}
		return r, nil
	case <-ctx.Done():
		rt.mu.Lock()
		select {
		case r := <-w.ch: // handed a replica just as we gave up
			rt.mu.Unlock()
			if r != nil {
				rt.release(r)
			}
		default:
			w.cancelled = true
			rt.queued--
			rt.mu.Unlock()
		}
		return nil, ctx.Err()
	}
}

// release frees the slot taken by acquire and hands it to the first waiter.
func (rt *router) release(r *replica) {
	rt.mu.Lock()
	r.ongoing--
	rt.ongoing--
	if r.routable {
		rt.serveWaitersLocked(r)
	} else if r.ongoing == 0 && r.drained != nil && !r.drainClosed {
		close(r.drained)
		r.drainClosed = true
	}
	rt.mu.Unlock()
}

// serveWaitersLocked gives r's free slots to queued requests.
func (rt *router) serveWaitersLocked(r *replica) {
	for r.ongoing < rt.maxOngoing {
		w := rt.popWaiterLocked()
		if w == nil {
			return
		}
		r.ongoing++
		rt.ongoing++
		w.ch <- r
	}
}

func (rt *router) popWaiterLocked() *waiter {
	for rt.head < len(rt.waiters) {
		w := rt.waiters[rt.head]
		rt.waiters[rt.head] = nil
		rt.head++
		if !w.cancelled {
			rt.queued--
			rt.compactLocked()
			return w
		}
	}
	rt.compactLocked()
	return nil
}

func (rt *router) compactLocked() {
	if rt.head == len(rt.waiters) {
		rt.waiters, rt.head = rt.waiters[:0], 0
	} else if rt.head > 64 && rt.head*2 > len(rt.waiters) {
		n := copy(rt.waiters, rt.waiters[rt.head:])
		clear(rt.waiters[n:])
		rt.waiters, rt.head = rt.waiters[:n], 0
	}
}

// add makes r routable and gives it queued requests.
func (rt *router) add(r *replica) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r.routable = true
	rt.replicas = append(rt.replicas, r)
	rt.serveWaitersLocked(r)
}

// remove takes r out of rotation. It returns a channel closed once r has
// no ongoing requests.
func (rt *router) remove(r *replica) <-chan struct{} {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if r.routable {
		r.routable = false
		for i, x := range rt.replicas {
			if x == r {
				rt.replicas = append(rt.replicas[:i], rt.replicas[i+1:]...)
				break
			}
		}
	}
	if r.drained == nil {
		r.drained = make(chan struct{})
		if r.ongoing == 0 {
			close(r.drained)
			r.drainClosed = true
		}
	}
	return r.drained
}

// setLimits changes the per-replica and queue limits (on redeploy).
func (rt *router) setLimits(maxOngoing, maxQueued int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.maxOngoing, rt.maxQueued = maxOngoing, maxQueued
	for _, r := range rt.replicas {
		rt.serveWaitersLocked(r)
	}
}

// stop fails all queued requests and every later acquire with ErrStopped.
func (rt *router) stop() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.stopped = true
	for w := rt.popWaiterLocked(); w != nil; w = rt.popWaiterLocked() {
		w.ch <- nil
	}
}

// leastLoaded returns the index of the replica in rs with the fewest
// ongoing requests.
func (rt *router) leastLoaded(rs []*replica) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	best := 0
	for i, r := range rs {
		if r.ongoing < rs[best].ongoing {
			best = i
		}
	}
	return best
}

// load reports requests in flight and queued.
func (rt *router) load() (ongoing, queued, replicas int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.ongoing, rt.queued, len(rt.replicas)
}
