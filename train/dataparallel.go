package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
)

// Preprocessor is what a trainer needs of a preprocessor: fit on the
// "train" dataset, then transform every dataset. The preprocess package's
// preprocessors satisfy it.
type Preprocessor interface {
	Fit(ctx context.Context, ds *data.Dataset) error
	Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error)
}

// ReportFunc observes every report of a run (rank 0's), after its
// checkpoint is persisted: the type of RunConfig.Callbacks. Returning
// stop=true ends the run. A tuner uses it to drive schedulers.
type ReportFunc func(metrics map[string]float64, ckpt *checkpoint.Checkpoint) (stop bool, err error)

// scratchDir is the folder of the run directory that TempDir hands out
// folders from; Fit removes it when it returns.
const scratchDir = ".tmp"

// TempDir creates a new directory for files a training loop writes before
// it hands them to Report or SaveCheckpoint (a checkpoint being built),
// which copy them into the run directory. It lies inside the run
// directory, so a run writes nowhere else, and Fit removes it (with
// everything left in it) when it returns; the loop may remove it sooner.
// pattern names it as in os.MkdirTemp.
func TempDir(tc Context, pattern string) (string, error) {
	w, ok := tc.(*workerContext)
	if !ok {
		return "", fmt.Errorf("%w: TempDir needs the Context of a train worker", ErrInvalidConfig)
	}
	root := filepath.Join(w.sink.runDir, scratchDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("train: create temporary directory: %w", err)
	}
	dir, err := os.MkdirTemp(root, pattern)
	if err != nil {
		return "", fmt.Errorf("train: create temporary directory: %w", err)
	}
	return dir, nil
}

// DataParallelTrainer runs a training loop on NumWorkers workers (core
// actors holding their resources) that share collectives, and persists
// what rank 0 reports under RunConfig.StoragePath/Name.
//
// The loop and its config are what a worker receives, and both are plain
// data, as they must be to reach a worker in another process: the loop by
// its registered name, the config encoded (each worker decodes its own
// copy). State the loop needs goes in Config, not in variables a closure
// captures.
type DataParallelTrainer struct {
	// TrainLoop runs on every worker: a loop registered with
	// RegisterLoop.
	TrainLoop Loop
	// Config is passed to every worker's loop, encoded on the way: its
	// values are bools, numbers, strings, []byte, slices and string-keyed
	// maps of those, []any and map[string]any (nested), and types
	// registered with RegisterConfigType. Each worker gets values of the
	// same Go types in a map of its own. Fit refuses any other value,
	// naming its key.
	Config map[string]any
	// ScalingConfig says how many workers and what each holds.
	ScalingConfig ScalingConfig
	// RunConfig names the run and sets checkpointing, failures and stop conditions.
	RunConfig RunConfig
	// Datasets are split into one disjoint streaming shard per worker.
	Datasets map[string]*data.Dataset
	// Preprocessor, if set, is fitted on Datasets["train"], applied to every
	// dataset and saved inside every checkpoint.
	Preprocessor Preprocessor
	// ResumeFromCheckpoint is handed to the loop as tc.Checkpoint() on the first attempt.
	ResumeFromCheckpoint *checkpoint.Checkpoint
	// Kind names the trainer in default run names and errors (default "DataParallelTrainer").
	Kind string
}

var _ RunConfigurableTrainer = (*DataParallelTrainer)(nil)

// WithRunConfig returns a copy of t whose RunConfig is edit applied to a
// copy of t's (RunConfigurableTrainer).
func (t *DataParallelTrainer) WithRunConfig(edit func(*RunConfig)) Trainer {
	cp := *t
	cp.RunConfig = t.RunConfig.Clone()
	edit(&cp.RunConfig)
	return &cp
}

// worker is the actor that runs one rank's loop.
type worker struct {
	spec   workerSpec
	loop   LoopFunc
	config map[string]any
}

// workerSpec is what a worker actor is constructed from: plain data, as
// it would cross to a worker process. The worker looks its loop up by name
// and decodes its own copy of the config.
type workerSpec struct {
	Loop    string // the registered name of the loop
	Config  []byte // encodeConfig of DataParallelTrainer.Config
	Rank    int
	Size    int
	Attempt int // the worker group's number in the run (reports of older groups are dropped)
}

// workerLinks is what connects a worker to the rest of its run: in-process
// values still, so the method that takes them (workerRun) is LocalOnly.
// What blocks it: the group rendezvous is a *core.ActorHandle and the
// driver's run state (where Report and SaveCheckpoint land) a pointer,
// both to become actor handles that a worker process can call once core
// encodes ActorHandles; the shards are *data.Dataset, which need an
// encodable form (a plan or Refs to blocks); the resume checkpoint is a
// *checkpoint.Checkpoint, whose FS does not encode (its path would do on
// storage every node reads).
type workerLinks struct {
	group  *core.ActorHandle[*group]
	shards map[string]*data.Dataset
	ckpt   *checkpoint.Checkpoint
	sink   *runState
}

var workerActor = core.Actor1("train.worker", func(ctx context.Context, s workerSpec) (*worker, error) {
	loop, err := lookupLoop(s.Loop)
	if err != nil {
		return nil, err
	}
	config, err := decodeConfig(s.Config)
	if err != nil {
		return nil, err
	}
	return &worker{spec: s, loop: loop, config: config}, nil
})

var workerRun = core.Method1("train.worker.run", func(w *worker, ctx context.Context, l *workerLinks) (bool, error) {
	s := w.spec
	tc := &workerContext{ctx: ctx, rank: s.Rank, size: s.Size, group: l.group, coll: newGroupMember(s.Rank, s.Size, l.group),
		shards: l.shards, ckpt: l.ckpt, sink: l.sink, attempt: s.Attempt}
	err := w.loop(tc, w.config)
	if errors.Is(err, ErrStopRequested) {
		err = nil
	}
	return err == nil, err
}, core.LocalOnly())

// Fit runs the training loop to completion and returns its result.
func (t *DataParallelTrainer) Fit(ctx context.Context) (*Result, error) {
	kind := t.Kind
	if kind == "" {
		kind = "DataParallelTrainer"
	}
	if t.TrainLoop.name == "" {
		return nil, fmt.Errorf("%w: %s.TrainLoop is not set (a loop registered with train.RegisterLoop)", ErrInvalidConfig, kind)
	}
	if _, err := lookupLoop(t.TrainLoop.name); err != nil {
		return nil, err
	}
	config, err := encodeConfig(t.Config)
	if err != nil {
		return nil, err
	}
	if err := t.ScalingConfig.Validate(); err != nil {
		return nil, err
	}
	if err := t.RunConfig.Validate(); err != nil {
		return nil, err
	}
	runDir := t.RunConfig.RunDir(kind)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: create run directory: %w", err)
	}
	defer os.RemoveAll(filepath.Join(runDir, scratchDir))
	datasets, ppState, err := t.preprocess(ctx)
	if err != nil {
		return nil, err
	}
	st := &runState{runDir: runDir, cfg: t.RunConfig.Clone(), ppState: ppState, start: time.Now()}

	n := t.ScalingConfig.workers()
	res := workerResources(t.ScalingConfig)

	latest := t.ResumeFromCheckpoint
	failures := 0
	for {
		if latestPersisted := st.latestCheckpoint(); latestPersisted != nil {
			latest = latestPersisted
		}
		err := t.runGroup(ctx, n, res, config, datasets, latest, st)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return st.result(err), err
		}
		failures++
		if t.RunConfig.FailureConfig.MaxFailures >= 0 && failures > t.RunConfig.FailureConfig.MaxFailures {
			err = fmt.Errorf("%w after %d failure(s) (FailureConfig.MaxFailures=%d): %w", ErrWorkerFailed, failures, t.RunConfig.FailureConfig.MaxFailures, err)
			return st.result(err), err
		}
	}
	return st.result(nil), nil
}

func workerResources(s ScalingConfig) []core.ActorOption {
	cpu := 1.0
	var gpu float64
	if s.UseGPU {
		gpu = 1
	}
	custom := map[string]float64{}
	for k, v := range s.ResourcesPerWorker {
		switch k {
		case "CPU":
			cpu = v
		case "GPU":
			gpu = v
		default:
			custom[k] = v
		}
	}
	opts := []core.ActorOption{core.NumCPUs(cpu)}
	if gpu > 0 {
		opts = append(opts, core.NumGPUs(gpu))
	}
	if len(custom) > 0 {
		opts = append(opts, core.Resources(custom))
	}
	return opts
}

// preprocess fits the preprocessor on "train" and applies it to every dataset.
func (t *DataParallelTrainer) preprocess(ctx context.Context) (map[string]*data.Dataset, []byte, error) {
	if t.Preprocessor == nil {
		return t.Datasets, nil, nil
	}
	trainDS := t.Datasets["train"]
	if trainDS == nil {
		return nil, nil, fmt.Errorf("%w: a Preprocessor needs a dataset named \"train\" to fit on", ErrInvalidConfig)
	}
	if err := t.Preprocessor.Fit(ctx, trainDS); err != nil {
		return nil, nil, fmt.Errorf("train: fit preprocessor on \"train\": %w", err)
	}
	out := make(map[string]*data.Dataset, len(t.Datasets))
	for name, ds := range t.Datasets {
		tds, err := t.Preprocessor.Transform(ctx, ds)
		if err != nil {
			return nil, nil, fmt.Errorf("train: preprocess dataset %q: %w", name, err)
		}
		out[name] = tds
	}
	pp, ok := t.Preprocessor.(preprocess.Preprocessor)
	if !ok {
		return nil, nil, fmt.Errorf("%w: Preprocessor %T is not a preprocess.Preprocessor, so it cannot be saved in checkpoints", ErrInvalidConfig, t.Preprocessor)
	}
	state, err := preprocess.Marshal(pp)
	if err != nil {
		return nil, nil, fmt.Errorf("train: save preprocessor state: %w", err)
	}
	return out, state, nil
}

// runGroup starts one worker group, runs it to the end and tears it down.
// It returns the first real failure (not the aborts it caused).
func (t *DataParallelTrainer) runGroup(ctx context.Context, n int, res []core.ActorOption, config []byte, datasets map[string]*data.Dataset, resume *checkpoint.Checkpoint, st *runState) error {
	shards := make([]map[string]*data.Dataset, n)
	for i := range shards {
		shards[i] = map[string]*data.Dataset{}
	}
	for name, ds := range datasets {
		if ds == nil {
			continue
		}
		if n == 1 {
			shards[0][name] = ds
			continue
		}
		parts, err := ds.StreamingSplit(n, data.Equal())
		if err != nil {
			return fmt.Errorf("train: split dataset %q into %d shards: %w", name, n, err)
		}
		for i := range n {
			shards[i][name] = parts[i]
		}
	}
	g, err := groupActor.Options(core.MaxConcurrency(max(n, 1)*4)).Remote(ctx, n)
	if err != nil {
		return err
	}
	attempt := st.newAttempt(resume)
	workers := make([]*core.ActorHandle[*worker], n)
	defer func() {
		// Reports of this group are ignored from now on, and no loop of it
		// runs once this returns (unless user code ignores its context).
		st.endAttempt(attempt)
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		groupAbort.Remote(stopCtx, g, "the worker group is being torn down")
		for _, w := range workers {
			if w != nil {
				core.KillAndWait(stopCtx, w)
			}
		}
		core.KillAndWait(stopCtx, g)
	}()
	refs := make([]core.Ref[bool], n)
	for rank := range n {
		spec := workerSpec{Loop: t.TrainLoop.name, Config: config, Rank: rank, Size: n, Attempt: attempt}
		w, err := workerActor.Options(res...).Remote(ctx, spec)
		if err != nil {
			return fmt.Errorf("train: start worker %d: %w", rank, err)
		}
		workers[rank] = w
		refs[rank] = workerRun.Remote(ctx, w, &workerLinks{group: g, shards: shards[rank], ckpt: resume, sink: st})
	}
	var first error
	pending := refs
	for len(pending) > 0 {
		ready, rest, err := core.Wait(ctx, pending, core.WaitOptions{NumReturns: 1})
		if err != nil {
			return err
		}
		for _, r := range ready {
			if _, err := core.Get(ctx, r); err != nil {
				rank := indexOfRef(refs, r)
				if first == nil || errors.Is(first, ErrGroupAborted) && !errors.Is(err, ErrGroupAborted) {
					first = fmt.Errorf("worker rank %d: %w", rank, err)
				}
				if n > 1 {
					groupAbort.Remote(ctx, g, fmt.Sprintf("worker rank %d failed", rank))
				}
			}
		}
		pending = rest
	}
	return first
}

func indexOfRef(refs []core.Ref[bool], r core.Ref[bool]) int {
	for i, x := range refs {
		if x.ID() == r.ID() {
			return i
		}
	}
	return -1
}

// runState is the driver side of a run: what rank 0 reported, the
// checkpoints kept on disk, and the stop decision.
type runState struct {
	runDir   string
	cfg      RunConfig
	ppState  []byte
	start    time.Time
	iterBase int // training_iteration of the checkpoint the live group resumed from

	mu             sync.Mutex
	attempt        int  // the live worker group; reports of older ones are dropped
	live           bool // a group is running
	attemptReports int  // reports of the live group
	history        []map[string]float64
	kept           []keptCheckpoint
	nCkpt          int
}

type keptCheckpoint struct {
	ckpt  *checkpoint.Checkpoint
	score float64
	seq   int
}

// newAttempt starts a worker group resuming from resume (nil: from
// scratch). Its iterations continue the numbering of resume's run, as in
// Ray: after a restart, the iterations since that checkpoint are reported
// again.
func (s *runState) newAttempt(resume *checkpoint.Checkpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempt++
	s.live = true
	s.iterBase, s.attemptReports = 0, 0
	if resume != nil {
		s.iterBase = int(resume.Metadata().Metrics["training_iteration"])
	}
	return s.attempt
}

func (s *runState) endAttempt(a int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempt == a {
		s.live = false
	}
}

// errStaleGroup: a report from a worker group that was already torn down.
var errStaleGroup = fmt.Errorf("%w: report from a worker group that was torn down", ErrGroupAborted)

func (s *runState) report(ctx context.Context, attempt int, metrics map[string]float64, ckpt *checkpoint.Checkpoint) (bool, error) {
	s.mu.Lock()
	if attempt != s.attempt || !s.live {
		s.mu.Unlock()
		return false, errStaleGroup
	}
	m := make(map[string]float64, len(metrics)+2)
	for k, v := range metrics {
		m[k] = v
	}
	s.attemptReports++
	m["training_iteration"] = float64(s.iterBase + s.attemptReports)
	m["time_total_s"] = time.Since(s.start).Seconds()
	s.history = append(s.history, m)
	s.mu.Unlock()

	if err := s.appendResult(m); err != nil {
		return false, err
	}
	var persisted *checkpoint.Checkpoint
	if ckpt != nil {
		var err error
		if persisted, err = s.persist(ckpt, m); err != nil {
			return false, err
		}
	}
	stop := false
	for k, limit := range s.cfg.Stop {
		if v, ok := m[k]; ok && v >= limit {
			stop = true
		}
	}
	for i, cb := range s.cfg.Callbacks {
		cs, err := cb(m, persisted)
		if err != nil {
			return false, fmt.Errorf("RunConfig.Callbacks[%d]: %w", i, err)
		}
		stop = stop || cs
	}
	return stop, nil
}

// saveLate persists a checkpoint that arrives after the last report.
func (s *runState) saveLate(attempt int, ckpt *checkpoint.Checkpoint) error {
	s.mu.Lock()
	if attempt != s.attempt || !s.live {
		s.mu.Unlock()
		return errStaleGroup
	}
	var m map[string]float64
	if len(s.history) > 0 {
		m = s.history[len(s.history)-1]
	}
	s.mu.Unlock()
	_, err := s.persist(ckpt, m)
	return err
}

func (s *runState) appendResult(m map[string]float64) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.runDir, "result.json"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("train: write result.json: %w", err)
	}
	defer f.Close()
	_, err = f.Write(append(b, '\n'))
	return err
}

// persist copies a reported checkpoint into the run directory, adds the
// preprocessor and metrics, and drops checkpoints past NumToKeep.
func (s *runState) persist(ckpt *checkpoint.Checkpoint, m map[string]float64) (*checkpoint.Checkpoint, error) {
	s.mu.Lock()
	seq := s.nCkpt
	s.nCkpt++
	s.mu.Unlock()
	dir := filepath.Join(s.runDir, fmt.Sprintf("checkpoint_%06d", seq))
	if err := ckpt.ToDirectory(dir); err != nil {
		return nil, fmt.Errorf("train: persist checkpoint: %w", err)
	}
	out, err := checkpoint.FromDirectory(dir)
	if err != nil {
		return nil, err
	}
	if s.ppState != nil && !out.HasFile(checkpoint.PreprocessorFile) {
		if err := out.WriteFile(checkpoint.PreprocessorFile, s.ppState); err != nil {
			return nil, err
		}
	}
	if err := out.UpdateMetadata(func(md *checkpoint.Metadata) {
		if md.Metrics == nil {
			md.Metrics = map[string]float64{}
		}
		for k, v := range m {
			md.Metrics[k] = v
		}
	}); err != nil {
		return nil, err
	}
	score := float64(seq)
	if attr := s.cfg.CheckpointConfig.ScoreAttribute; attr != "" {
		v, ok := m[attr]
		if !ok {
			v = math.NaN()
		}
		if s.cfg.CheckpointConfig.ScoreOrder == "min" {
			v = -v
		}
		score = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = append(s.kept, keptCheckpoint{ckpt: out, score: score, seq: seq})
	if k := s.cfg.CheckpointConfig.NumToKeep; k > 0 && len(s.kept) > k {
		// Keep k in all: the latest (a restart resumes from it) and the
		// best k-1 of the others.
		latest := s.kept[len(s.kept)-1]
		var others []keptCheckpoint
		for _, c := range s.sortedLocked() {
			if c.seq != latest.seq {
				others = append(others, c)
			}
		}
		keep := append(others[:min(k-1, len(others)):min(k-1, len(others))], latest)
		for _, c := range others[min(k-1, len(others)):] {
			os.RemoveAll(c.ckpt.Path())
		}
		sort.Slice(keep, func(i, j int) bool { return keep[i].seq < keep[j].seq })
		s.kept = keep
	}
	return out, nil
}

// sortedLocked returns kept checkpoints best first (NaN scores last).
func (s *runState) sortedLocked() []keptCheckpoint {
	out := append([]keptCheckpoint(nil), s.kept...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].score, out[j].score
		if math.IsNaN(a) != math.IsNaN(b) {
			return !math.IsNaN(a)
		}
		if a != b {
			return a > b
		}
		return out[i].seq > out[j].seq
	})
	return out
}

func (s *runState) latestCheckpoint() *checkpoint.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) == 0 {
		return nil
	}
	return s.kept[len(s.kept)-1].ckpt
}

func (s *runState) result(err error) *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Result{Path: s.runDir, Err: err, MetricsHistory: s.history}
	if len(s.history) > 0 {
		r.Metrics = s.history[len(s.history)-1]
	}
	if len(s.kept) > 0 {
		r.Checkpoint = s.kept[len(s.kept)-1].ckpt
		for _, c := range s.sortedLocked() {
			r.BestCheckpoints = append(r.BestCheckpoints, c.ckpt)
		}
	}
	return r
}
