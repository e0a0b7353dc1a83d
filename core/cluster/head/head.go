package head

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray/goray/core/cluster/auth"
	pb "github.com/goray/goray/core/clusterpb"
)

// Config configures a head.
type Config struct {
	Dir         string        // the session directory: the embedded store and the binaries
	Store       string        // --gcs-store: "" (bbolt in Dir), a path, or redis://HOST:PORT
	Token       string        // the cluster token every call must carry
	TLS         auth.TLS      // optional transport security
	NodeTimeout time.Duration // a node or driver silent this long is dead (default 3 s)
	// MaxBinarySize bounds an uploaded executable (default 1 GiB).
	MaxBinarySize int64
}

// Validate names the bad field.
func (c *Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("head config: Dir is empty")
	case c.Token == "":
		return fmt.Errorf("head config: Token is empty")
	case c.NodeTimeout < 0:
		return fmt.Errorf("head config: NodeTimeout %v < 0", c.NodeTimeout)
	}
	return c.TLS.Validate()
}

// The tables of the store.
const (
	tNodes  = "nodes"
	tJobs   = "jobs"
	tActors = "actors"
	tNames  = "names"
	tKV     = "kv"
	tMeta   = "meta"
)

type nodeState struct {
	info      *pb.NodeInfo
	available *pb.Resources
	pending   []*pb.Resources
	workers   int32
	lastBeat  time.Time
	lastOK    time.Time // last health check answered
}

// Server is a head's control store.
type Server struct {
	cfg    Config
	store  Store
	health *health.Server
	grpc   *grpc.Server
	dial   []grpc.DialOption

	mu       sync.Mutex
	epoch    int64
	nextJob  uint32
	nodes    map[string]*nodeState // by hex NodeID
	jobs     map[uint32]*pb.JobInfo
	actors   map[string]*pb.ActorInfo // by hex ActorID
	names    map[string]string        // namespace\x00name -> hex ActorID
	drivers  map[uint32]time.Time     // running jobs: last time the driver answered
	uploadMu sync.Mutex

	stop chan struct{}
	wg   sync.WaitGroup

	pb.UnimplementedHeadServer
}

// New opens the store, loads the tables and counts a head start. It does
// no network I/O.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = 3 * time.Second
	}
	if cfg.MaxBinarySize == 0 {
		cfg.MaxBinarySize = 1 << 30
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "binaries"), 0o700); err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	st, err := OpenStore(cfg.Store, cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, nodes: map[string]*nodeState{}, jobs: map[uint32]*pb.JobInfo{},
		actors: map[string]*pb.ActorInfo{}, names: map[string]string{}, drivers: map[uint32]time.Time{}, stop: make(chan struct{})}
	if err := s.load(); err != nil {
		st.Close()
		return nil, err
	}
	dial, err := auth.DialOptions(cfg.Token, cfg.TLS)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.dial = dial
	opts, err := auth.ServerOptions(cfg.Token, cfg.TLS)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.grpc = grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(16<<20))...)
	pb.RegisterHeadServer(s.grpc, s)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	return s, nil
}

// load reads the tables a previous head left.
func (s *Server) load() error {
	meta, err := s.store.List(tMeta)
	if err != nil {
		return fmt.Errorf("head: read store: %w", err)
	}
	if v, ok := meta["epoch"]; ok {
		s.epoch, _ = strconv.ParseInt(string(v), 10, 64)
	}
	if v, ok := meta["next_job"]; ok {
		n, _ := strconv.ParseUint(string(v), 10, 32)
		s.nextJob = uint32(n)
	}
	s.epoch++
	if err := s.store.Put(tMeta, "epoch", []byte(strconv.FormatInt(s.epoch, 10))); err != nil {
		return fmt.Errorf("head: write store: %w", err)
	}
	now := time.Now()
	rows, err := s.store.List(tNodes)
	if err != nil {
		return err
	}
	for k, v := range rows {
		var n pb.NodeInfo
		if err := proto.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("head: store table %s key %s: %w", tNodes, k, err)
		}
		// A node alive before the restart has NodeTimeout to report again.
		s.nodes[k] = &nodeState{info: &n, available: n.Total, lastBeat: now, lastOK: now}
	}
	rows, err = s.store.List(tJobs)
	if err != nil {
		return err
	}
	for k, v := range rows {
		var j pb.JobInfo
		if err := proto.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("head: store table %s key %s: %w", tJobs, k, err)
		}
		s.jobs[j.JobId] = &j
		if j.State == "RUNNING" {
			s.drivers[j.JobId] = now
		}
	}
	rows, err = s.store.List(tActors)
	if err != nil {
		return err
	}
	for k, v := range rows {
		var a pb.ActorInfo
		if err := proto.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("head: store table %s key %s: %w", tActors, k, err)
		}
		s.actors[k] = &a
	}
	rows, err = s.store.List(tNames)
	if err != nil {
		return err
	}
	for k, v := range rows {
		s.names[k] = string(v)
	}
	return nil
}

// Epoch counts the starts of this head's store.
func (s *Server) Epoch() int64 { return s.epoch }

// Serve serves lis until Stop, and probes the nodes and drivers meanwhile.
func (s *Server) Serve(lis net.Listener) error {
	s.wg.Add(1)
	go s.probe()
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop stops serving, waits for the prober and closes the store.
func (s *Server) Stop() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.grpc.Stop()
	s.wg.Wait()
	s.store.Close()
}

func (s *Server) put(table, key string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return status.Errorf(codes.Internal, "encode %s: %v", table, err)
	}
	if err := s.store.Put(table, key, b); err != nil {
		return status.Errorf(codes.Unavailable, "gcs store: %v", err)
	}
	return nil
}

func nodeKey(id []byte) (string, error) {
	if len(id) != 28 {
		return "", status.Errorf(codes.InvalidArgument, "node_id has %d bytes, want 28", len(id))
	}
	return hex.EncodeToString(id), nil
}

func actorKey(id []byte) (string, error) {
	if len(id) != 16 {
		return "", status.Errorf(codes.InvalidArgument, "actor_id has %d bytes, want 16", len(id))
	}
	return hex.EncodeToString(id), nil
}

func validResources(r *pb.Resources, field string) error {
	for k, v := range r.GetAmounts() {
		if k == "" || v < 0 || v != v || v > 1e15 {
			return status.Errorf(codes.InvalidArgument, "%s[%q] = %v: want a name and a finite amount >= 0", field, k, v)
		}
	}
	return nil
}

func validAddress(addr, field string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return status.Errorf(codes.InvalidArgument, "%s %q: %v", field, addr, err)
	}
	return nil
}

// RegisterNode adds a node, or brings one back that registered before.
func (s *Server) RegisterNode(ctx context.Context, n *pb.NodeInfo) (*pb.RegisterNodeReply, error) {
	key, err := nodeKey(n.NodeId)
	if err != nil {
		return nil, err
	}
	if err := validAddress(n.Address, "address"); err != nil {
		return nil, err
	}
	if err := validResources(n.Total, "total"); err != nil {
		return nil, err
	}
	info := proto.Clone(n).(*pb.NodeInfo)
	info.State, info.DeathCause = "ALIVE", ""
	if info.StartedUnixMs == 0 {
		info.StartedUnixMs = time.Now().UnixMilli()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.nodes[key]; ok && old.info.State == "DEAD" {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s was marked dead (%s): start it again to join with a new ID", key, old.info.DeathCause)
	}
	if err := s.put(tNodes, key, info); err != nil {
		return nil, err
	}
	now := time.Now()
	s.nodes[key] = &nodeState{info: info, available: info.Total, lastBeat: now, lastOK: now}
	return &pb.RegisterNodeReply{HeadEpoch: s.epoch}, nil
}

// ReportLoad is a node's beat.
func (s *Server) ReportLoad(ctx context.Context, l *pb.NodeLoad) (*pb.ReportLoadReply, error) {
	key, err := nodeKey(l.NodeId)
	if err != nil {
		return nil, err
	}
	if err := validResources(l.Available, "available"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[key]
	if !ok {
		return &pb.ReportLoadReply{Reregister: true, HeadEpoch: s.epoch}, nil
	}
	if n.info.State == "DEAD" {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s was marked dead (%s)", key, n.info.DeathCause)
	}
	n.available, n.pending, n.workers, n.lastBeat = l.Available, l.Pending, l.Workers, time.Now()
	var done []uint32
	for id, j := range s.jobs {
		if j.State == "FINISHED" {
			done = append(done, id)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i] < done[j] })
	return &pb.ReportLoadReply{FinishedJobs: done, HeadEpoch: s.epoch}, nil
}

// ListNodes returns the nodes, alive ones first by start time.
func (s *Server) ListNodes(ctx context.Context, r *pb.ListNodesRequest) (*pb.ListNodesReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &pb.ListNodesReply{HeadEpoch: s.epoch}
	for _, n := range s.nodes {
		if n.info.State == "DEAD" && !r.IncludeDead {
			continue
		}
		out.Nodes = append(out.Nodes, &pb.NodeView{Info: n.info, Available: n.available, Pending: n.pending, Workers: n.workers,
			LastBeatUnixMs: n.lastBeat.UnixMilli()})
	}
	sort.Slice(out.Nodes, func(i, j int) bool {
		a, b := out.Nodes[i].Info, out.Nodes[j].Info
		if (a.State == "DEAD") != (b.State == "DEAD") {
			return b.State == "DEAD"
		}
		if a.IsHead != b.IsHead {
			return a.IsHead
		}
		if a.StartedUnixMs != b.StartedUnixMs {
			return a.StartedUnixMs < b.StartedUnixMs
		}
		return a.Address < b.Address
	})
	return out, nil
}

func validHash(h string) error {
	if len(h) != 64 {
		return status.Errorf(codes.InvalidArgument, "binary_hash %q: want 64 hex digits (SHA-256)", h)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return status.Errorf(codes.InvalidArgument, "binary_hash %q: %v", h, err)
	}
	return nil
}

func (s *Server) binaryPath(hash string) string { return filepath.Join(s.cfg.Dir, "binaries", hash) }

// RegisterJob starts a job for a driver.
func (s *Server) RegisterJob(ctx context.Context, r *pb.RegisterJobRequest) (*pb.RegisterJobReply, error) {
	if err := validHash(r.BinaryHash); err != nil {
		return nil, err
	}
	if err := validAddress(r.DriverAddress, "driver_address"); err != nil {
		return nil, err
	}
	if r.BinarySize <= 0 || r.BinarySize > s.cfg.MaxBinarySize {
		return nil, status.Errorf(codes.InvalidArgument, "binary_size %d: want 1..%d", r.BinarySize, s.cfg.MaxBinarySize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextJob++
	if err := s.store.Put(tMeta, "next_job", []byte(strconv.FormatUint(uint64(s.nextJob), 10))); err != nil {
		return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
	}
	j := &pb.JobInfo{JobId: s.nextJob, BinaryHash: r.BinaryHash, DriverAddress: r.DriverAddress, DriverPid: r.DriverPid,
		Entrypoint: r.Entrypoint, Namespace: r.Namespace, State: "RUNNING", StartUnixMs: time.Now().UnixMilli()}
	if err := s.put(tJobs, strconv.FormatUint(uint64(j.JobId), 10), j); err != nil {
		return nil, err
	}
	s.jobs[j.JobId] = j
	s.drivers[j.JobId] = time.Now()
	_, err := os.Stat(s.binaryPath(r.BinaryHash))
	return &pb.RegisterJobReply{JobId: j.JobId, NeedBinary: err != nil}, nil
}

// UploadBinary stores an executable under its hash, which it checks.
func (s *Server) UploadBinary(st grpc.ClientStreamingServer[pb.BinaryChunk, pb.UploadBinaryReply]) error {
	first, err := st.Recv()
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "upload: no chunk: %v", err)
	}
	hash := first.Hash
	if err := validHash(hash); err != nil {
		return err
	}
	s.uploadMu.Lock()
	defer s.uploadMu.Unlock()
	final := s.binaryPath(hash)
	f, err := os.CreateTemp(filepath.Dir(final), ".upload-")
	if err != nil {
		return status.Errorf(codes.Internal, "upload: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	var size int64
	for c := first; ; {
		size += int64(len(c.Data))
		if size > s.cfg.MaxBinarySize {
			return status.Errorf(codes.InvalidArgument, "upload %s: more than %d bytes", hash, s.cfg.MaxBinarySize)
		}
		if _, err := w.Write(c.Data); err != nil {
			return status.Errorf(codes.Internal, "upload: %v", err)
		}
		c, err = st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return status.Errorf(codes.InvalidArgument, "upload: content hashes to %s, not %s", got, hash)
	}
	if err := f.Close(); err != nil {
		return status.Errorf(codes.Internal, "upload: %v", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return status.Errorf(codes.Internal, "upload: %v", err)
	}
	return st.SendAndClose(&pb.UploadBinaryReply{Size: size})
}

// FetchBinary streams an executable a node needs.
func (s *Server) FetchBinary(r *pb.FetchBinaryRequest, st grpc.ServerStreamingServer[pb.BinaryChunk]) error {
	if err := validHash(r.Hash); err != nil {
		return err
	}
	f, err := os.Open(s.binaryPath(r.Hash))
	if err != nil {
		return status.Errorf(codes.NotFound, "binary %s: not uploaded", r.Hash)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for first := true; ; first = false {
		n, err := f.Read(buf)
		if n > 0 {
			c := &pb.BinaryChunk{Data: buf[:n]}
			if first {
				c.Hash = r.Hash
			}
			if err := st.Send(c); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return status.Errorf(codes.Internal, "binary %s: %v", r.Hash, err)
		}
	}
}

// GetJob returns a job.
func (s *Server) GetJob(ctx context.Context, r *pb.GetJobRequest) (*pb.JobInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[r.JobId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "job %d: no such job", r.JobId)
	}
	return j, nil
}

// FinishJob ends a job: nodes stop its workers at their next beat.
func (s *Server) FinishJob(ctx context.Context, r *pb.FinishJobRequest) (*pb.JobInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finishLocked(r.JobId)
}

func (s *Server) finishLocked(id uint32) (*pb.JobInfo, error) {
	j, ok := s.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "job %d: no such job", id)
	}
	if j.State == "FINISHED" {
		return j, nil
	}
	j = proto.Clone(j).(*pb.JobInfo)
	j.State, j.EndUnixMs = "FINISHED", time.Now().UnixMilli()
	if err := s.put(tJobs, strconv.FormatUint(uint64(id), 10), j); err != nil {
		return nil, err
	}
	s.jobs[id] = j
	delete(s.drivers, id)
	// The job's actors die with it, except detached ones.
	for k, a := range s.actors {
		if a.JobId == id && !a.Detached && a.State != "DEAD" {
			a.State, a.DeathCause = "DEAD", fmt.Sprintf("job %d finished", id)
			s.put(tActors, k, a)
			s.dropNameLocked(a)
		}
	}
	return j, nil
}

// ListJobs returns the jobs by ID.
func (s *Server) ListJobs(ctx context.Context, r *pb.ListJobsRequest) (*pb.ListJobsReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &pb.ListJobsReply{}
	for _, j := range s.jobs {
		out.Jobs = append(out.Jobs, j)
	}
	sort.Slice(out.Jobs, func(i, j int) bool { return out.Jobs[i].JobId < out.Jobs[j].JobId })
	return out, nil
}

func nameKey(ns, name string) string { return ns + "\x00" + name }

func (s *Server) dropNameLocked(a *pb.ActorInfo) {
	if a.Name == "" {
		return
	}
	k := nameKey(a.Namespace, a.Name)
	if s.names[k] == hex.EncodeToString(a.ActorId) {
		delete(s.names, k)
		s.store.Delete(tNames, k)
	}
}

// PutActor records an actor's state. A name held by another live actor
// is refused with AlreadyExists.
func (s *Server) PutActor(ctx context.Context, a *pb.ActorInfo) (*pb.PutActorReply, error) {
	key, err := actorKey(a.ActorId)
	if err != nil {
		return nil, err
	}
	switch a.State {
	case "PENDING", "ALIVE", "RESTARTING", "DEAD":
	default:
		return nil, status.Errorf(codes.InvalidArgument, "actor state %q: want PENDING, ALIVE, RESTARTING or DEAD", a.State)
	}
	if a.WorkerAddress != "" {
		if err := validAddress(a.WorkerAddress, "worker_address"); err != nil {
			return nil, err
		}
	}
	a = proto.Clone(a).(*pb.ActorInfo)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Name != "" && a.State != "DEAD" {
		k := nameKey(a.Namespace, a.Name)
		if other, ok := s.names[k]; ok && other != key {
			if o := s.actors[other]; o != nil && o.State != "DEAD" {
				return nil, status.Errorf(codes.AlreadyExists, "actor name %q in namespace %q is taken by actor %s", a.Name, a.Namespace, other)
			}
		}
		if s.names[k] != key {
			if err := s.store.Put(tNames, k, []byte(key)); err != nil {
				return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
			}
			s.names[k] = key
		}
	}
	if err := s.put(tActors, key, a); err != nil {
		return nil, err
	}
	s.actors[key] = a
	if a.State == "DEAD" {
		s.dropNameLocked(a)
	}
	return &pb.PutActorReply{}, nil
}

// GetActor finds an actor by ID or by name.
func (s *Server) GetActor(ctx context.Context, r *pb.GetActorRequest) (*pb.ActorInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := ""
	if len(r.ActorId) > 0 {
		k, err := actorKey(r.ActorId)
		if err != nil {
			return nil, err
		}
		key = k
	} else {
		if r.Name == "" {
			return nil, status.Error(codes.InvalidArgument, "get actor: give actor_id or name")
		}
		k, ok := s.names[nameKey(r.Namespace, r.Name)]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "no actor named %q in namespace %q", r.Name, r.Namespace)
		}
		key = k
	}
	a, ok := s.actors[key]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no actor %s", key)
	}
	return a, nil
}

func kvKey(r *pb.KVRequest) (string, error) {
	if r.Key == "" && r.Namespace == "" {
		return "", status.Error(codes.InvalidArgument, "kv: key is empty")
	}
	return r.Namespace + "\x00" + r.Key, nil
}

// KVPut stores a value; with overwrite false it keeps an existing one.
func (s *Server) KVPut(ctx context.Context, r *pb.KVRequest) (*pb.KVReply, error) {
	k, err := kvKey(r)
	if err != nil {
		return nil, err
	}
	if len(r.Value) > 8<<20 {
		return nil, status.Errorf(codes.InvalidArgument, "kv %q: value of %d bytes; at most 8 MiB", r.Key, len(r.Value))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.Overwrite {
		if _, ok, err := s.store.Get(tKV, k); err != nil {
			return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
		} else if ok {
			return &pb.KVReply{Added: false}, nil
		}
	}
	if err := s.store.Put(tKV, k, r.Value); err != nil {
		return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
	}
	return &pb.KVReply{Added: true}, nil
}

// KVGet reads a value.
func (s *Server) KVGet(ctx context.Context, r *pb.KVRequest) (*pb.KVReply, error) {
	k, err := kvKey(r)
	if err != nil {
		return nil, err
	}
	v, ok, err := s.store.Get(tKV, k)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
	}
	return &pb.KVReply{Value: v, Found: ok}, nil
}

// KVDelete removes a key.
func (s *Server) KVDelete(ctx context.Context, r *pb.KVRequest) (*pb.KVReply, error) {
	k, err := kvKey(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.Delete(tKV, k); err != nil {
		return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
	}
	return &pb.KVReply{}, nil
}

// KVList lists the keys of a namespace that start with key.
func (s *Server) KVList(ctx context.Context, r *pb.KVRequest) (*pb.KVReply, error) {
	rows, err := s.store.List(tKV)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "gcs store: %v", err)
	}
	out := &pb.KVReply{}
	prefix := r.Namespace + "\x00" + r.Key
	for k := range rows {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out.Keys = append(out.Keys, k[len(r.Namespace)+1:])
		}
	}
	sort.Strings(out.Keys)
	return out, nil
}
