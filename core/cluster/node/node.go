package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/goray/goray/core/cluster/auth"
	pb "github.com/goray/goray/core/clusterpb"
)

// The environment a worker process starts with.
const (
	EnvWorkerNode = "GORAY_WORKER_NODE" // the node's address: set means worker mode
	EnvWorkerID   = "GORAY_WORKER_ID"
	EnvJobID      = "GORAY_JOB_ID"
	EnvHead       = "GORAY_HEAD_ADDRESS"
	EnvNodeID     = "GORAY_NODE_ID"
	EnvNodeHost   = "GORAY_NODE_HOST"
	EnvTLSCert    = "GORAY_TLS_CERT"
	EnvTLSKey     = "GORAY_TLS_KEY"
	EnvTLSCA      = "GORAY_TLS_CA"
)

// Config configures a node.
type Config struct {
	Head      string             // the head's address
	Host      string             // the address to listen on and advertise (default 127.0.0.1)
	Resources map[string]float64 // what the node offers: CPU, GPU, memory, custom
	Dir       string             // the session directory: binaries cache and worker logs
	Token     string
	TLS       auth.TLS
	IsHead    bool          // the head process's own node
	Beat      time.Duration // how often it reports to the head (default 250 ms)
	// WorkerStart bounds how long a worker process may take to register.
	WorkerStart time.Duration
}

// Validate names the bad field.
func (c *Config) Validate() error {
	switch {
	case c.Head == "":
		return fmt.Errorf("node config: Head is empty")
	case c.Dir == "":
		return fmt.Errorf("node config: Dir is empty")
	case c.Token == "":
		return fmt.Errorf("node config: Token is empty")
	}
	for k, v := range c.Resources {
		if k == "" || v < 0 || v != v {
			return fmt.Errorf("node config: resource %q = %v: want a name and a finite amount >= 0", k, v)
		}
	}
	return c.TLS.Validate()
}

// Node is a node daemon.
type Node struct {
	cfg    Config
	id     [28]byte
	addr   string
	grpc   *grpc.Server
	health *health.Server
	dial   []grpc.DialOption
	head   pb.HeadClient
	hconn  *grpc.ClientConn

	ctx    context.Context // ends at Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	total    map[string]float64
	avail    map[string]float64
	queue    []*demand
	workers  map[uint32]*worker // one per job
	byID     map[string]*worker // by hex worker ID
	actors   map[string]*held   // actor resources, by hex ActorID
	finished map[uint32]bool    // jobs the head reported finished
	binMu    sync.Mutex         // one fetch of a binary at a time

	pb.UnimplementedNodeServer
}

// demand is a request waiting for resources.
type demand struct {
	res   map[string]float64
	ready chan struct{}
	gone  bool
}

// held is what an actor holds and the worker it runs in.
type held struct {
	res map[string]float64
	w   *worker
}

// New makes a node; Start serves it.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Beat == 0 {
		cfg.Beat = 250 * time.Millisecond
	}
	if cfg.WorkerStart == 0 {
		cfg.WorkerStart = 30 * time.Second
	}
	n := &Node{cfg: cfg, total: map[string]float64{}, avail: map[string]float64{}, workers: map[uint32]*worker{},
		byID: map[string]*worker{}, actors: map[string]*held{}, finished: map[uint32]bool{}}
	if _, err := rand.Read(n.id[:]); err != nil {
		return nil, err
	}
	for k, v := range cfg.Resources {
		n.total[k], n.avail[k] = v, v
	}
	dial, err := auth.DialOptions(cfg.Token, cfg.TLS)
	if err != nil {
		return nil, err
	}
	n.dial = append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))
	opts, err := auth.ServerOptions(cfg.Token, cfg.TLS)
	if err != nil {
		return nil, err
	}
	n.grpc = grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))...)
	pb.RegisterNodeServer(n.grpc, n)
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.grpc, n.health)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// maxMsg bounds one message: task specs and results carry values inline.
const maxMsg = 1<<31 - 1

// ID is the node's ID.
func (n *Node) ID() [28]byte { return n.id }

// Address is where the node serves, once Start returned.
func (n *Node) Address() string { return n.addr }

// Start listens on Host (port 0: one the OS picks), registers with the
// head and serves until Stop.
func (n *Node) Start(ctx context.Context) error {
	lis, err := net.Listen("tcp", net.JoinHostPort(n.cfg.Host, "0"))
	if err != nil {
		return fmt.Errorf("node: listen: %w", err)
	}
	n.addr = lis.Addr().String()
	c, err := grpc.NewClient(n.cfg.Head, n.dial...)
	if err != nil {
		lis.Close()
		return fmt.Errorf("node: head %s: %w", n.cfg.Head, err)
	}
	n.hconn, n.head = c, pb.NewHeadClient(c)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.grpc.Serve(lis)
	}()
	if err := n.register(ctx); err != nil {
		n.Stop()
		return err
	}
	n.wg.Add(1)
	go n.beat()
	return nil
}

func (n *Node) info() *pb.NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return &pb.NodeInfo{NodeId: n.id[:], Address: n.addr, Total: &pb.Resources{Amounts: clone(n.total)}, IsHead: n.cfg.IsHead,
		Pid: int32(os.Getpid())}
}

func (n *Node) register(ctx context.Context) error {
	info := n.info()
	info.StartedUnixMs = time.Now().UnixMilli()
	var last error
	for i := 0; i < 100; i++ {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.head.RegisterNode(cctx, info, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied || c == codes.InvalidArgument ||
			c == codes.FailedPrecondition || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("node: register with head %s: %w", n.cfg.Head, last)
}

// beat reports the node's load to the head until Stop; it registers again
// when the head no longer knows the node, and stops the workers of jobs
// the head reports finished.
func (n *Node) beat() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.Beat)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		n.mu.Lock()
		load := &pb.NodeLoad{NodeId: n.id[:], Available: &pb.Resources{Amounts: clone(n.avail)}, Workers: int32(len(n.byID))}
		for _, d := range n.queue {
			load.Pending = append(load.Pending, &pb.Resources{Amounts: d.res})
		}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
		r, err := n.head.ReportLoad(ctx, load)
		cancel()
		if err != nil {
			continue // the head is away; it may come back
		}
		if r.Reregister {
			n.register(n.ctx)
		}
		for _, j := range r.FinishedJobs {
			n.finishJob(j)
		}
	}
}

// Stop kills the workers and stops serving.
func (n *Node) Stop() {
	n.cancel()
	n.mu.Lock()
	ws := make([]*worker, 0, len(n.byID))
	for _, w := range n.byID {
		ws = append(ws, w)
	}
	for _, d := range n.queue {
		d.gone = true
	}
	n.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
	n.grpc.Stop()
	if n.hconn != nil {
		n.hconn.Close()
	}
	n.wg.Wait()
}

func clone(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fitsLocked reports whether res fits in what is free now.
func (n *Node) fitsLocked(res map[string]float64) bool {
	for k, v := range res {
		if v > 0 && n.avail[k] < v-1e-9 {
			return false
		}
	}
	return true
}

func (n *Node) feasible(res map[string]float64) error {
	for k, v := range res {
		if v > 0 && n.total[k] < v-1e-9 {
			return fmt.Errorf("needs %s=%v; node %s has %v of it in total", k, v, n.addr, n.total[k])
		}
	}
	return nil
}

// acquire waits until res is free and takes it.
func (n *Node) acquire(ctx context.Context, res map[string]float64) error {
	if err := n.feasible(res); err != nil {
		return err
	}
	n.mu.Lock()
	if len(n.queue) == 0 && n.fitsLocked(res) {
		n.takeLocked(res)
		n.mu.Unlock()
		return nil
	}
	d := &demand{res: res, ready: make(chan struct{})}
	n.queue = append(n.queue, d)
	n.mu.Unlock()
	select {
	case <-d.ready:
		return nil
	case <-ctx.Done():
	case <-n.ctx.Done():
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case <-d.ready: // granted meanwhile: give it back
		n.giveLocked(res)
	default:
		d.gone = true
	}
	return fmt.Errorf("stopped waiting for resources: %w", context.Cause(ctx))
}

func (n *Node) takeLocked(res map[string]float64) {
	for k, v := range res {
		n.avail[k] -= v
	}
}

// giveLocked returns res and grants the waiting demands that now fit, in
// order, letting later ones pass one that does not fit.
func (n *Node) giveLocked(res map[string]float64) {
	for k, v := range res {
		n.avail[k] += v
	}
	n.grantLocked()
}

func (n *Node) grantLocked() {
	q := n.queue[:0]
	for _, d := range n.queue {
		switch {
		case d.gone:
		case n.fitsLocked(d.res):
			n.takeLocked(d.res)
			close(d.ready)
		default:
			q = append(q, d)
		}
	}
	for i := len(q); i < len(n.queue); i++ {
		n.queue[i] = nil
	}
	n.queue = q
}

func (n *Node) release(res map[string]float64) {
	n.mu.Lock()
	n.giveLocked(res)
	n.mu.Unlock()
}

func amounts(r *pb.Resources) map[string]float64 {
	out := map[string]float64{}
	for k, v := range r.GetAmounts() {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func validDemand(r *pb.Resources) error {
	for k, v := range r.GetAmounts() {
		if k == "" || v < 0 || v != v || v > 1e15 {
			return fmt.Errorf("resources[%q] = %v: want a name and a finite amount >= 0", k, v)
		}
	}
	return nil
}

// Tasks runs the tasks a driver or worker sends: each waits for its
// resources, runs in a worker process of its job and is answered on the
// stream, in the order they end.
func (n *Node) Tasks(st grpc.BidiStreamingServer[pb.TaskRequest, pb.TaskReply]) error {
	var sendMu sync.Mutex
	send := func(r *pb.TaskReply) {
		sendMu.Lock()
		defer sendMu.Unlock()
		st.Send(r)
	}
	ctx := st.Context()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := st.Recv()
		if err != nil {
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(n.runTask(ctx, req))
		}()
	}
}

func (n *Node) runTask(ctx context.Context, req *pb.TaskRequest) *pb.TaskReply {
	reply := &pb.TaskReply{Seq: req.Seq, NodeId: n.id[:]}
	if err := validDemand(req.Resources); err != nil {
		reply.Error = fmt.Sprintf("task %q: %v", req.Name, err)
		return reply
	}
	res := amounts(req.Resources)
	if err := n.acquire(ctx, res); err != nil {
		reply.Error = fmt.Sprintf("task %q: %v", req.Name, err)
		return reply
	}
	w, err := n.workerFor(ctx, req.JobId)
	if err != nil {
		n.release(res)
		reply.Error = fmt.Sprintf("task %q: %v", req.Name, err)
		return reply
	}
	out, died := w.run(ctx, req.Spec, res)
	if died != "" {
		reply.WorkerDied = died
	}
	reply.Result = out
	return reply
}

// StartActor places an actor: it waits for the actor's resources and
// constructs it in a worker process of its job.
func (n *Node) StartActor(ctx context.Context, req *pb.StartActorRequest) (*pb.StartActorReply, error) {
	if len(req.ActorId) != 16 {
		return nil, status.Errorf(codes.InvalidArgument, "actor_id has %d bytes, want 16", len(req.ActorId))
	}
	if err := validDemand(req.Resources); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "actor %q: %v", req.Class, err)
	}
	reply := &pb.StartActorReply{NodeId: n.id[:]}
	res := amounts(req.Resources)
	if err := n.acquire(ctx, res); err != nil {
		reply.Error = fmt.Sprintf("actor %q: %v", req.Class, err)
		return reply, nil
	}
	w, err := n.workerFor(ctx, req.JobId)
	if err != nil {
		n.release(res)
		reply.Error = fmt.Sprintf("actor %q: %v", req.Class, err)
		return reply, nil
	}
	key := hex.EncodeToString(req.ActorId)
	n.mu.Lock()
	n.actors[key] = &held{res: res, w: w}
	n.mu.Unlock()
	r, err := w.client.CreateActor(ctx, &pb.CreateActorRequest{Spec: req.Spec, ActorId: req.ActorId})
	if err != nil {
		n.actorGone(key)
		if w.isDead() {
			reply.WorkerDied = w.deathCause()
			return reply, nil
		}
		return nil, err
	}
	reply.Result, reply.WorkerAddress = r.Result, w.addr
	return reply, nil
}

// ActorGone frees what an actor held.
func (n *Node) ActorGone(ctx context.Context, req *pb.ActorGoneRequest) (*pb.ActorGoneReply, error) {
	n.actorGone(hex.EncodeToString(req.ActorId))
	return &pb.ActorGoneReply{}, nil
}

func (n *Node) actorGone(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h, ok := n.actors[key]; ok {
		delete(n.actors, key)
		n.giveLocked(h.res)
	}
}

// Blocked gives the CPUs of a task that waits in Get back, and takes them
// again when it runs on.
func (n *Node) Blocked(ctx context.Context, req *pb.BlockedRequest) (*pb.BlockedReply, error) {
	n.mu.Lock()
	w := n.byID[hex.EncodeToString(req.WorkerId)]
	n.mu.Unlock()
	if w == nil {
		return nil, status.Errorf(codes.NotFound, "no worker %x on node %s", req.WorkerId, n.addr)
	}
	w.blocked(req.Seq, req.Blocked)
	return &pb.BlockedReply{}, nil
}

// Stats reports the node's resources and workers.
func (n *Node) Stats(ctx context.Context, req *pb.NodeStatsRequest) (*pb.NodeStatsReply, error) {
	info := n.info()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := &pb.NodeStatsReply{Info: info, Available: &pb.Resources{Amounts: clone(n.avail)}, Workers: int32(len(n.byID))}
	for _, d := range n.queue {
		out.Pending = append(out.Pending, &pb.Resources{Amounts: d.res})
	}
	return out, nil
}

// RegisterWorker admits a worker process this node started, if it runs
// its job's binary.
func (n *Node) RegisterWorker(ctx context.Context, req *pb.RegisterWorkerRequest) (*pb.RegisterWorkerReply, error) {
	key := hex.EncodeToString(req.WorkerId)
	n.mu.Lock()
	w := n.byID[key]
	n.mu.Unlock()
	if w == nil {
		return nil, status.Errorf(codes.NotFound, "worker %s: this node did not start it", key)
	}
	if req.BinaryHash != w.hash {
		err := fmt.Sprintf("worker %s of job %d runs binary sha256 %s, but job %d's binary is sha256 %s: driver and workers must run the same code",
			key, w.job, req.BinaryHash, w.job, w.hash)
		w.refuse(err)
		return nil, status.Error(codes.PermissionDenied, err)
	}
	if _, _, err := net.SplitHostPort(req.Address); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker address %q: %v", req.Address, err)
	}
	if err := w.connect(req.Address, n.dial); err != nil {
		return nil, status.Errorf(codes.Unavailable, "worker %s: %v", key, err)
	}
	return &pb.RegisterWorkerReply{HeadAddress: n.cfg.Head, NodeId: n.id[:]}, nil
}

// workerFor returns the running worker process of a job, starting one.
func (n *Node) workerFor(ctx context.Context, job uint32) (*worker, error) {
	n.mu.Lock()
	if n.finished[job] {
		n.mu.Unlock()
		return nil, fmt.Errorf("job %d has finished", job)
	}
	w := n.workers[job]
	if w == nil || w.isDead() {
		var err error
		w, err = n.newWorker(job)
		if err != nil {
			n.mu.Unlock()
			return nil, err
		}
	}
	n.mu.Unlock()
	select {
	case <-w.ready:
	case <-w.dead:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.isDead() {
		return nil, fmt.Errorf("worker process of job %d: %s", job, w.deathCause())
	}
	return w, nil
}

// newWorker starts a worker process of job; the caller holds n.mu. The
// job's binary is fetched (and its hash checked) by the process starter.
func (n *Node) newWorker(job uint32) (*worker, error) {
	var id [28]byte
	rand.Read(id[:])
	w := &worker{n: n, job: job, id: hex.EncodeToString(id[:]), ready: make(chan struct{}), dead: make(chan struct{}),
		inflight: map[uint64]*call{}}
	n.workers[job] = w
	n.byID[w.id] = w
	n.wg.Add(1)
	go w.start()
	return w, nil
}

func (n *Node) workerGone(w *worker) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.byID, w.id)
	if n.workers[w.job] == w {
		delete(n.workers, w.job)
	}
	for k, h := range n.actors {
		if h.w == w {
			delete(n.actors, k)
			n.giveLocked(h.res)
		}
	}
}

// finishJob stops the workers of a job the head reports finished.
func (n *Node) finishJob(job uint32) {
	n.mu.Lock()
	if n.finished[job] {
		n.mu.Unlock()
		return
	}
	n.finished[job] = true
	var ws []*worker
	for _, w := range n.byID {
		if w.job == job {
			ws = append(ws, w)
		}
	}
	n.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
}

// binary returns the path of a job's executable in the node's cache,
// fetching it from the head once.
func (n *Node) binary(ctx context.Context, job uint32) (path, hash string, err error) {
	j, err := n.head.GetJob(ctx, &pb.GetJobRequest{JobId: job})
	if err != nil {
		return "", "", fmt.Errorf("job %d: %w", job, err)
	}
	hash = j.BinaryHash
	if len(hash) != 64 {
		return "", "", fmt.Errorf("job %d: binary hash %q", job, hash)
	}
	dir := filepath.Join(n.cfg.Dir, "node-binaries")
	path = filepath.Join(dir, hash)
	n.binMu.Lock()
	defer n.binMu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, hash, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	st, err := n.head.FetchBinary(ctx, &pb.FetchBinaryRequest{Hash: hash})
	if err != nil {
		return "", "", fmt.Errorf("job %d: fetch binary: %w", job, err)
	}
	f, err := os.CreateTemp(dir, ".fetch-")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	for {
		c, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", fmt.Errorf("job %d: fetch binary: %w", job, err)
		}
		f.Write(c.Data)
		h.Write(c.Data)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return "", "", fmt.Errorf("job %d: fetched binary hashes to %s, not %s", job, got, hash)
	}
	if err := f.Chmod(0o700); err != nil {
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	return path, hash, os.Rename(f.Name(), path)
}

// call is a task or actor creation in flight on a worker.
type call struct {
	reply chan *pb.WorkReply
	res   map[string]float64 // what it holds on the node
	cpu   float64            // the CPUs it gave back while blocked
}

// worker is a worker process of one job on this node.
type worker struct {
	n    *Node
	job  uint32
	id   string
	hash string

	ready chan struct{} // closed once it registered and its Run stream is open
	dead  chan struct{} // closed once the process exited

	mu       sync.Mutex
	cmd      *exec.Cmd
	addr     string
	conn     *grpc.ClientConn
	client   pb.WorkerClient
	stream   grpc.BidiStreamingClient[pb.WorkRequest, pb.WorkReply]
	seq      uint64
	inflight map[uint64]*call
	cause    string
	refused  string
	sendMu   sync.Mutex
}

func (w *worker) isDead() bool {
	select {
	case <-w.dead:
		return true
	default:
		return false
	}
}

func (w *worker) deathCause() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cause
}

// start fetches the binary, starts the process and waits for it to exit.
func (w *worker) start() {
	n := w.n
	defer n.wg.Done()
	fail := func(cause string) {
		w.mu.Lock()
		w.cause = cause
		w.mu.Unlock()
		close(w.dead)
		n.workerGone(w)
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.WorkerStart)
	defer cancel()
	path, hash, err := n.binary(ctx, w.job)
	if err != nil {
		fail(err.Error())
		return
	}
	w.hash = hash
	j, err := n.head.GetJob(ctx, &pb.GetJobRequest{JobId: w.job})
	if err != nil {
		fail(err.Error())
		return
	}
	logs := filepath.Join(n.cfg.Dir, "logs")
	os.MkdirAll(logs, 0o700)
	out, err := os.OpenFile(filepath.Join(logs, fmt.Sprintf("worker-%d-%s.log", w.job, w.id[:12])), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fail(err.Error())
		return
	}
	defer out.Close()
	cmd := exec.Command(path, splitArgs(j.Entrypoint)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(),
		EnvWorkerNode+"="+n.addr, EnvWorkerID+"="+w.id, EnvJobID+"="+strconv.FormatUint(uint64(w.job), 10),
		EnvHead+"="+n.cfg.Head, EnvNodeID+"="+hex.EncodeToString(n.id[:]), EnvNodeHost+"="+n.cfg.Host,
		auth.EnvToken+"="+n.cfg.Token,
		EnvTLSCert+"="+n.cfg.TLS.Cert, EnvTLSKey+"="+n.cfg.TLS.Key, EnvTLSCA+"="+n.cfg.TLS.CA,
		"GORAY_ADDRESS=", // the worker serves its node; it does not connect as a driver
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	w.mu.Lock()
	w.cmd = cmd
	w.mu.Unlock()
	if err := cmd.Start(); err != nil {
		fail(fmt.Sprintf("start %s: %v", path, err))
		return
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-w.ready:
	case err := <-waited:
		w.exited(err)
		return
	case <-ctx.Done():
		cmd.Process.Kill()
		err := <-waited
		w.mu.Lock()
		if w.cause == "" {
			w.cause = fmt.Sprintf("did not register within %v (%v)", n.cfg.WorkerStart, err)
		}
		w.mu.Unlock()
		w.exited(err)
		return
	}
	w.exited(<-waited)
}

// exited fails what was in flight on a worker whose process ended.
func (w *worker) exited(err error) {
	w.mu.Lock()
	if w.cause == "" {
		w.cause = fmt.Sprintf("worker process (pid %d) of job %d on node %s exited: %v", w.pid(), w.job, w.n.addr, err)
		if w.refused != "" {
			w.cause = w.refused
		}
	}
	calls := w.inflight
	w.inflight = map[uint64]*call{}
	conn := w.conn
	w.mu.Unlock()
	close(w.dead)
	for _, c := range calls {
		c.reply <- nil
	}
	if conn != nil {
		conn.Close()
	}
	w.n.workerGone(w)
}

func (w *worker) pid() int {
	if w.cmd != nil && w.cmd.Process != nil {
		return w.cmd.Process.Pid
	}
	return 0
}

func (w *worker) refuse(cause string) {
	w.mu.Lock()
	w.refused = cause
	cmd := w.cmd
	w.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
	}
}

func (w *worker) kill() {
	w.mu.Lock()
	cmd := w.cmd
	if w.cause == "" {
		w.cause = "stopped by its node"
	}
	w.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
	}
}

// connect opens the node's Run stream to a registering worker.
func (w *worker) connect(addr string, dial []grpc.DialOption) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stream != nil {
		return fmt.Errorf("registered already")
	}
	c, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return err
	}
	st, err := pb.NewWorkerClient(c).Run(w.n.ctx)
	if err != nil {
		c.Close()
		return err
	}
	w.addr, w.conn, w.client, w.stream = addr, c, pb.NewWorkerClient(c), st
	w.n.wg.Add(1)
	go w.receive(st)
	close(w.ready)
	return nil
}

// receive hands the worker's replies to their calls until the stream ends.
func (w *worker) receive(st grpc.BidiStreamingClient[pb.WorkRequest, pb.WorkReply]) {
	defer w.n.wg.Done()
	for {
		r, err := st.Recv()
		if err != nil {
			return
		}
		w.mu.Lock()
		c := w.inflight[r.Seq]
		delete(w.inflight, r.Seq)
		w.mu.Unlock()
		if c != nil {
			c.reply <- r
		}
	}
}

// run sends a task to the worker and waits for its result; it releases
// the task's resources when it ends. died is set when the process died.
func (w *worker) run(ctx context.Context, spec []byte, res map[string]float64) (result []byte, died string) {
	c := &call{reply: make(chan *pb.WorkReply, 1), res: res}
	w.mu.Lock()
	if w.isDead() {
		w.mu.Unlock()
		w.n.release(res)
		return nil, w.deathCause()
	}
	w.seq++
	seq := w.seq
	w.inflight[seq] = c
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.inflight, seq)
		give := clone(c.res)
		give["CPU"] -= c.cpu
		w.mu.Unlock()
		w.n.release(give)
	}()
	w.sendMu.Lock()
	err := w.stream.Send(&pb.WorkRequest{Seq: seq, Spec: spec})
	w.sendMu.Unlock()
	if err != nil {
		return nil, fmt.Sprintf("send to worker: %v", err)
	}
	select {
	case r := <-c.reply:
		if r == nil {
			return nil, w.deathCause()
		}
		return r.Result, ""
	case <-ctx.Done():
		return nil, fmt.Sprintf("the caller went away: %v", ctx.Err())
	}
}

// blocked gives back (or takes again) the CPUs of task seq.
func (w *worker) blocked(seq uint64, b bool) {
	w.mu.Lock()
	c := w.inflight[seq]
	if c == nil {
		w.mu.Unlock()
		return
	}
	cpu := c.res["CPU"]
	if b && c.cpu == 0 && cpu > 0 {
		c.cpu = cpu
		w.mu.Unlock()
		w.n.release(map[string]float64{"CPU": cpu})
		return
	}
	if !b && c.cpu > 0 {
		c.cpu = 0
		w.mu.Unlock()
		w.n.mu.Lock()
		w.n.takeLocked(map[string]float64{"CPU": cpu}) // as in Ray, it may oversubscribe for a while
		w.n.mu.Unlock()
		return
	}
	w.mu.Unlock()
}

// splitArgs reads the NUL-separated argument list of a job's entrypoint.
func splitArgs(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Sorted returns the keys of m in order, for printing.
func Sorted(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}


