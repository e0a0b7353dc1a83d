package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// settings are the per-request knobs of a deployment's current version,
// read on the hot path without a lock.
type settings struct {
	timeout time.Duration
}

// deploymentState is one deployment inside a Server: its router (used by
// every request) and its controller, a single goroutine (run) that owns
// the replica set: it starts and stops replicas, checks their health,
// autoscales and rolls out new versions.
type deploymentState struct {
	srv     *Server
	name    string
	route   string
	router  *router
	metrics *depMetrics
	log     *slog.Logger
	cur     atomic.Pointer[settings]

	// Inputs of the controller loop.
	deadCh     chan *replica
	redeployCh chan *rollout
	stopCh     chan struct{}
	stopOnce   sync.Once
	done       chan struct{}
	startFn    func(ctx context.Context, d *Deployment, rc *ReplicaContext) (replicaConn, error)
	nextID     *atomic.Int64 // server-wide replica counter
	controlDur time.Duration

	// Status, written by the loop, read by Status.
	statusMu sync.Mutex
	status   DeploymentStatus
}

// DeploymentStatus is a snapshot of one deployment.
type DeploymentStatus struct {
	Name            string
	RoutePrefix     string
	Version         int
	Replicas        int // routable replicas
	TargetReplicas  int
	Starting        int
	Ongoing, Queued int
	LastError       string // last replica start or health failure, if any
}

// rollout asks the controller to move to a new version.
type rollout struct {
	spec  *Deployment // defaults applied
	reply chan error
}

type startResult struct {
	version int
	id      string
	conn    replicaConn
	err     error
}

type healthResult struct {
	r   *replica
	err error
}

func newDeploymentState(s *Server, d *Deployment) *deploymentState {
	ds := &deploymentState{
		srv:        s,
		name:       d.Name,
		route:      d.RoutePrefix,
		router:     newRouter(d.MaxOngoingRequests, d.MaxQueuedRequests),
		log:        s.log.With("deployment", d.Name),
		deadCh:     make(chan *replica, 64),
		redeployCh: make(chan *rollout),
		stopCh:     make(chan struct{}),
		done:       make(chan struct{}),
		startFn:    s.o.startReplica,
		nextID:     &s.replicaSeq,
		controlDur: s.o.controlPeriod,
	}
	ds.cur.Store(&settings{timeout: d.RequestTimeout})
	ds.status = DeploymentStatus{Name: d.Name, RoutePrefix: d.RoutePrefix}
	return ds
}

// call sends one request to a replica, queueing while all are busy. A
// request that meets a replica already dead is retried on another.
func (ds *deploymentState) call(ctx context.Context, req *Request) (*Response, error) {
	for attempt := 0; ; attempt++ {
		r, err := ds.router.acquire(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := r.conn.call(ctx, req, func() { ds.router.release(r) })
		if err != nil && r.conn.dead(err) {
			ds.router.remove(r) // stop routing to it at once
			select {
			case ds.deadCh <- r:
			default: // the controller is busy; the health check will find it
			}
			if errors.Is(err, errNotServed) && attempt < 3 {
				continue
			}
		}
		return resp, err
	}
}

// redeploy rolls the deployment to spec and waits for the rollout.
func (ds *deploymentState) redeploy(ctx context.Context, spec *Deployment) error {
	ro := &rollout{spec: spec, reply: make(chan error, 1)}
	select {
	case ds.redeployCh <- ro:
	case <-ds.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ro.reply:
		return err
	case <-ds.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ds *deploymentState) stop() {
	ds.stopOnce.Do(func() { close(ds.stopCh) })
	<-ds.done
}

func (ds *deploymentState) getStatus() DeploymentStatus {
	ds.statusMu.Lock()
	st := ds.status
	ds.statusMu.Unlock()
	st.Ongoing, st.Queued, st.Replicas = ds.router.load()
	return st
}

// controller is the state owned by the run loop.
type controller struct {
	ds       *deploymentState
	version  int
	specs    map[int]*Deployment
	replicas []*replica  // running replicas, routable or draining
	starting map[int]int // starts in flight, per version
	target   int
	op       *rollout // rollout in progress
	prevVer  int      // version to return to if op fails

	startFails  int
	nextStartAt time.Time
	lastErr     string

	samples   []loadSample
	upSince   time.Time
	downSince time.Time

	checking  map[*replica]bool
	lastCheck map[*replica]time.Time

	ctx     context.Context // cancelled when the loop stops
	quit    chan struct{}   // closed when the loop stops
	wg      sync.WaitGroup  // children: starts, checks, drains
	started chan startResult
	checked chan healthResult
	drained chan *replica
}

type loadSample struct {
	at   time.Time
	load float64
}

func (ds *deploymentState) run() {
	defer close(ds.done)
	ctx, cancel := context.WithCancel(context.Background())
	c := &controller{
		ds:        ds,
		specs:     map[int]*Deployment{},
		checking:  map[*replica]bool{},
		starting:  map[int]int{},
		lastCheck: map[*replica]time.Time{},
		ctx:       ctx,
		quit:      make(chan struct{}),
		started:   make(chan startResult),
		checked:   make(chan healthResult),
		drained:   make(chan *replica),
	}
	tick := time.NewTicker(ds.controlDur)
	defer tick.Stop()
	for {
		select {
		case ro := <-ds.redeployCh:
			c.beginRollout(ro)
		case res := <-c.started:
			c.onStarted(res)
		case hr := <-c.checked:
			delete(c.checking, hr.r)
			if !c.has(hr.r) {
				break
			}
			c.lastCheck[hr.r] = time.Now()
			if hr.err != nil {
				c.lastErr = fmt.Sprintf("replica %s failed its health check: %v", hr.r.id, hr.err)
				ds.log.Warn("replica failed health check; replacing it", "replica", hr.r.id, "err", hr.err)
				c.replaceDead(hr.r)
			}
		case r := <-ds.deadCh:
			if c.has(r) && !r.stopping {
				c.lastErr = fmt.Sprintf("replica %s crashed", r.id)
				ds.log.Warn("replica crashed; replacing it", "replica", r.id)
				c.replaceDead(r)
			}
		case r := <-c.drained:
			c.forget(r)
		case now := <-tick.C:
			c.autoscale(now)
			c.healthChecks(now)
		case <-ds.stopCh:
			c.shutdown(cancel)
			return
		}
		c.reconcile()
		c.publish()
	}
}

func (c *controller) spec() *Deployment { return c.specs[c.version] }

func (c *controller) has(r *replica) bool {
	for _, x := range c.replicas {
		if x == r {
			return true
		}
	}
	return false
}

func (c *controller) forget(r *replica) {
	for i, x := range c.replicas {
		if x == r {
			c.replicas = append(c.replicas[:i], c.replicas[i+1:]...)
			break
		}
	}
	delete(c.lastCheck, r)
}

func (c *controller) beginRollout(ro *rollout) {
	if c.op != nil {
		ro.reply <- fmt.Errorf("%w: deployment %q: a redeploy is already in progress", ErrInvalidInput, c.ds.name)
		return
	}
	prev := c.spec()
	c.prevVer = c.version
	c.version++
	c.specs[c.version] = ro.spec
	c.op = ro
	c.startFails, c.nextStartAt = 0, time.Time{}
	c.ds.router.setLimits(ro.spec.MaxOngoingRequests, ro.spec.MaxQueuedRequests)
	c.ds.cur.Store(&settings{timeout: ro.spec.RequestTimeout})
	switch a := ro.spec.Autoscaling; {
	case a == nil:
		c.target = ro.spec.NumReplicas
	case prev == nil:
		c.target = a.InitialReplicas
	default:
		c.target = min(max(c.target, a.MinReplicas), a.MaxReplicas)
	}
	c.upSince, c.downSince, c.samples = time.Time{}, time.Time{}, nil
}

// finishRollout ends the rollout in progress; on failure the deployment
// goes back to the previous version (if any).
func (c *controller) finishRollout(err error) {
	ro := c.op
	c.op = nil
	if err != nil && c.prevVer > 0 {
		bad := c.version
		c.version = c.prevVer
		prev := c.spec()
		delete(c.specs, bad)
		c.ds.router.setLimits(prev.MaxOngoingRequests, prev.MaxQueuedRequests)
		c.ds.cur.Store(&settings{timeout: prev.RequestTimeout})
		if prev.Autoscaling == nil {
			c.target = prev.NumReplicas
		}
	}
	// Versions no replica runs any more are dropped.
	for v := range c.specs {
		if v == c.version {
			continue
		}
		used := false
		for _, r := range c.replicas {
			used = used || r.version == v
		}
		if !used {
			delete(c.specs, v)
		}
	}
	c.publish() // Status reflects the outcome before Redeploy returns
	ro.reply <- err
}

func (c *controller) startReplica() {
	spec := c.spec()
	ver := c.version
	id := c.ds.name + "#" + strconv.FormatInt(c.ds.nextID.Add(1), 10)
	rc := &ReplicaContext{Deployment: spec.Name, ReplicaID: id, Version: ver, UserConfig: spec.UserConfig, server: c.ds.srv}
	c.starting[ver]++
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		conn, err := c.ds.startFn(c.ctx, spec, rc)
		select {
		case c.started <- startResult{version: ver, id: id, conn: conn, err: err}:
		case <-c.quit:
			if conn != nil {
				ctx, cancel := context.WithTimeout(context.Background(), spec.GracefulShutdownTimeout)
				conn.stop(ctx)
				cancel()
			}
		}
	}()
}

func (c *controller) onStarted(res startResult) {
	if c.starting[res.version]--; c.starting[res.version] <= 0 {
		delete(c.starting, res.version)
	}
	if res.err != nil {
		c.ds.metrics.replicaFailures.Inc()
		c.lastErr = fmt.Sprintf("replica %s failed to start: %v", res.id, res.err)
		c.ds.log.Warn("replica failed to start", "replica", res.id, "err", res.err)
		if c.op != nil && res.version == c.version {
			c.finishRollout(fmt.Errorf("deployment %q: replica failed to start: %w", c.ds.name, res.err))
			return
		}
		c.startFails++
		backoff := min(100*time.Millisecond<<min(c.startFails, 7), 10*time.Second)
		c.nextStartAt = time.Now().Add(backoff)
		return
	}
	c.startFails = 0
	r := &replica{id: res.id, version: res.version, conn: res.conn}
	c.replicas = append(c.replicas, r)
	c.lastCheck[r] = time.Now()
	c.ds.router.add(r)
	c.ds.log.Debug("replica started", "replica", r.id, "version", r.version)
}

// replaceDead drops a crashed or unhealthy replica; reconcile starts its
// replacement.
func (c *controller) replaceDead(r *replica) {
	c.ds.metrics.replicaFailures.Inc()
	c.ds.router.remove(r)
	c.forget(r)
	spec := c.specs[r.version]
	if spec == nil {
		spec = c.spec()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), min(spec.GracefulShutdownTimeout, time.Second))
		defer cancel()
		r.conn.stop(ctx)
	}()
}

// drain takes r out of rotation, lets its ongoing requests finish, then
// stops it.
func (c *controller) drain(r *replica) {
	r.stopping = true
	done := c.ds.router.remove(r)
	spec := c.specs[r.version]
	if spec == nil {
		spec = c.spec()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTimer(spec.GracefulShutdownTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		case <-c.quit:
		}
		ctx, cancel := context.WithTimeout(context.Background(), spec.GracefulShutdownTimeout)
		r.conn.stop(ctx)
		cancel()
		select {
		case c.drained <- r:
		case <-c.quit:
		}
	}()
}

// reconcile starts and drains replicas so the current version runs
// target replicas, replacing older versions one at a time.
func (c *controller) reconcile() {
	spec := c.spec()
	if spec == nil {
		return
	}
	var cur, old []*replica
	oldDraining := false
	for _, r := range c.replicas {
		switch {
		case r.stopping:
			oldDraining = oldDraining || r.version != c.version
		case r.version == c.version:
			cur = append(cur, r)
		default:
			old = append(old, r)
		}
	}
	starting := c.starting[c.version]
	if missing := c.target - len(cur) - starting; missing > 0 && !time.Now().Before(c.nextStartAt) {
		if len(old) > 0 {
			missing = min(missing, 1-starting) // roll one replica at a time
		}
		for range missing {
			c.startReplica()
		}
	}
	excess := len(cur) + len(old) - c.target
	for ; excess > 0 && len(old) > 0; excess-- {
		c.drain(old[0])
		old = old[1:]
		oldDraining = true
	}
	for ; excess > 0 && len(cur) > 0; excess-- {
		// Downscale: stop the least busy replica.
		best := c.ds.router.leastLoaded(cur)
		c.drain(cur[best])
		cur = append(cur[:best], cur[best+1:]...)
	}
	if c.op != nil && len(old) == 0 && !oldDraining && len(cur) >= c.target {
		c.finishRollout(nil)
	}
}

// autoscale samples the load and moves target after the configured delay.
func (c *controller) autoscale(now time.Time) {
	spec := c.spec()
	if spec == nil || spec.Autoscaling == nil {
		return
	}
	a := spec.Autoscaling
	ongoing, queued, _ := c.ds.router.load()
	c.samples = append(c.samples, loadSample{at: now, load: float64(ongoing + queued)})
	cut := 0
	for cut < len(c.samples)-1 && now.Sub(c.samples[cut].at) > a.LookBackPeriod {
		cut++
	}
	c.samples = c.samples[cut:]
	var sum float64
	for _, s := range c.samples {
		sum += s.load
	}
	avg := sum / float64(len(c.samples))
	desired := int(math.Ceil(avg/a.TargetOngoingRequests - 1e-9))
	desired = min(max(desired, a.MinReplicas), a.MaxReplicas)
	if c.target == 0 && queued > 0 {
		desired = max(desired, 1) // scale from zero at once
		c.upSince = now.Add(-a.UpscaleDelay)
	}
	switch {
	case desired > c.target:
		c.downSince = time.Time{}
		if c.upSince.IsZero() {
			c.upSince = now
		}
		if now.Sub(c.upSince) >= a.UpscaleDelay {
			c.ds.log.Info("autoscaling up", "from", c.target, "to", desired, "load", avg)
			c.target, c.upSince = desired, time.Time{}
		}
	case desired < c.target:
		c.upSince = time.Time{}
		if c.downSince.IsZero() {
			c.downSince = now
		}
		if now.Sub(c.downSince) >= a.DownscaleDelay {
			c.ds.log.Info("autoscaling down", "from", c.target, "to", desired, "load", avg)
			c.target, c.downSince = desired, time.Time{}
		}
	default:
		c.upSince, c.downSince = time.Time{}, time.Time{}
	}
}

// healthChecks checks every replica due for one, each in its own goroutine.
func (c *controller) healthChecks(now time.Time) {
	for _, r := range c.replicas {
		spec := c.specs[r.version]
		if r.stopping || c.checking[r] || spec == nil || now.Sub(c.lastCheck[r]) < spec.HealthCheckPeriod {
			continue
		}
		c.checking[r] = true
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(c.ctx, spec.HealthCheckTimeout)
			err := r.conn.checkHealth(ctx)
			cancel()
			select {
			case c.checked <- healthResult{r: r, err: err}:
			case <-c.quit:
			}
		}()
	}
}

func (c *controller) publish() {
	st := DeploymentStatus{Name: c.ds.name, RoutePrefix: c.ds.route, Version: c.version,
		TargetReplicas: c.target, Starting: c.starting[c.version], LastError: c.lastErr}
	c.ds.statusMu.Lock()
	c.ds.status = st
	c.ds.statusMu.Unlock()
}

// shutdown stops every replica (letting ongoing requests finish within
// GracefulShutdownTimeout) and waits for the loop's goroutines.
func (c *controller) shutdown(cancel context.CancelFunc) {
	c.ds.router.stop()
	if c.op != nil {
		c.op.reply <- ErrStopped
		c.op = nil
	}
	for _, r := range c.replicas {
		if !r.stopping {
			c.drain(r)
		}
	}
	// Collect drained replicas until all are gone, then release the rest.
	for pending := len(c.replicas); pending > 0; pending-- {
		<-c.drained
	}
	cancel()
	close(c.quit)
	c.wg.Wait()
	c.replicas = nil
}
