package tune

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stateFile is the experiment state that Restore reads, in the experiment
// directory. It is written when the experiment starts, whenever a trial is
// added or changes status, at most once a second for new results and
// checkpoints, and when the experiment ends.
const stateFile = "experiment_state.json"

const stateVersion = 1

type experimentState struct {
	Version             int                `json:"version"`
	Trainable           string             `json:"trainable"`
	Metric              string             `json:"metric,omitempty"`
	Mode                string             `json:"mode,omitempty"`
	NumSamples          int                `json:"num_samples"`
	MaxConcurrentTrials int                `json:"max_concurrent_trials"`
	TimeBudgetS         float64            `json:"time_budget_s,omitempty"`
	Seed                int64              `json:"seed"`
	Stop                map[string]float64 `json:"stop,omitempty"`
	MaxFailures         int                `json:"max_failures"`
	FailFast            bool               `json:"fail_fast,omitempty"`
	NumToKeep           int                `json:"num_to_keep,omitempty"`
	Verbose             int                `json:"verbose,omitempty"`
	// ParamSpace is the typed encoding of the space; null when it cannot
	// be encoded (SampleFrom, non-JSON values), with the reason.
	ParamSpace      json.RawMessage `json:"param_space,omitempty"`
	ParamSpaceError string          `json:"param_space_error,omitempty"`
	SearchAlg       *componentSpec  `json:"search_alg,omitempty"`
	Scheduler       *componentSpec  `json:"scheduler,omitempty"`
	SearchFinished  bool            `json:"search_finished"`
	Trials          []trialState    `json:"trials"`
	SavedAt         time.Time       `json:"saved_at"`

	resumeErrored, restartErrored bool // Restore options
}

type trialState struct {
	ID             string          `json:"id"`
	Dir            string          `json:"dir"` // relative to the experiment
	Config         json.RawMessage `json:"config"`
	Status         Status          `json:"status"`
	Error          string          `json:"error,omitempty"`
	Failures       int             `json:"failures,omitempty"`
	Checkpoint     string          `json:"checkpoint,omitempty"` // relative
	CheckpointIter int             `json:"checkpoint_iter,omitempty"`
	CheckpointTime float64         `json:"checkpoint_time,omitempty"`
	Checkpoints    []string        `json:"checkpoints,omitempty"`
	CkptSeq        int             `json:"ckpt_seq,omitempty"`
}

// componentSpec records a built-in searcher or scheduler so that Restore
// can rebuild it.
type componentSpec struct {
	Kind   string          `json:"kind"`
	Config json.RawMessage `json:"config,omitempty"`
	Inner  *componentSpec  `json:"inner,omitempty"`
}

type stateWriter struct {
	c *controller
	// dirty: something Restore reads changed since the last save; changed:
	// a trial was added or changed status, which is saved at once.
	dirty, changed bool
	last           time.Time
	// static is the part of the state that does not change.
	static experimentState
}

func newStateWriter(c *controller) *stateWriter {
	t := c.t
	st := experimentState{Version: stateVersion, Trainable: c.tr.name, Metric: c.metric, Mode: c.mode,
		NumSamples: t.TuneConfig.NumSamples, MaxConcurrentTrials: t.TuneConfig.MaxConcurrentTrials,
		TimeBudgetS: t.TuneConfig.TimeBudget.Seconds(), Seed: c.seed, Stop: t.RunConfig.Stop,
		MaxFailures: t.RunConfig.FailureConfig.MaxFailures, FailFast: t.RunConfig.FailureConfig.FailFast,
		NumToKeep: t.RunConfig.CheckpointConfig.NumToKeep, Verbose: t.RunConfig.Verbose}
	if enc, err := encodeTyped(map[string]any(t.ParamSpace)); err != nil {
		st.ParamSpaceError = err.Error()
	} else {
		st.ParamSpace, _ = json.Marshal(enc)
	}
	st.SearchAlg, _ = encodeSearcher(c.search)
	st.Scheduler, _ = encodeScheduler(c.sched)
	return &stateWriter{c: c, dirty: true, static: st}
}

// markChanged records a trial added or changing status: the state is
// saved before the controller waits for the next event.
func (s *stateWriter) markChanged() { s.dirty, s.changed = true, true }

// saveIfChanged saves the state if a trial was added or changed status.
func (s *stateWriter) saveIfChanged() error {
	if !s.changed {
		return nil
	}
	return s.save()
}

func (s *stateWriter) maybeSave(now time.Time) {
	if s.dirty && now.Sub(s.last) >= time.Second {
		_ = s.save()
	}
}

// save writes the state atomically (temporary file, then rename).
func (s *stateWriter) save() error {
	c := s.c
	st := s.static
	st.SearchFinished = c.searchDone
	st.SavedAt = time.Now()
	st.Trials = make([]trialState, 0, len(c.trials))
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		if r, err := filepath.Rel(c.expDir, p); err == nil {
			return r
		}
		return p
	}
	for _, t := range c.trials {
		enc, err := encodeTyped(map[string]any(t.config))
		if err != nil {
			enc = jsonable(map[string]any(t.config))
		}
		cfg, _ := json.Marshal(enc)
		status := t.status
		if t.logsToGo > 0 && status != StatusError {
			status = StatusPending // its results are not all on disk: rerun it after a crash
		}
		ts := trialState{ID: t.id, Dir: rel(t.dir), Config: cfg, Status: status, Failures: t.failures,
			Checkpoint: rel(t.checkpoint), CheckpointIter: t.checkpointIter, CheckpointTime: t.checkpointTime,
			CkptSeq: t.ckptSeq}
		for _, p := range t.checkpoints {
			ts.Checkpoints = append(ts.Checkpoints, rel(p))
		}
		if t.err != nil {
			ts.Error = t.err.Error()
		}
		st.Trials = append(st.Trials, ts)
	}
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	path := filepath.Join(c.expDir, stateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	s.dirty, s.changed = false, false
	s.last = time.Now()
	return nil
}

// RestoreOption adjusts Restore.
type RestoreOption func(*restoreOptions)

type restoreOptions struct {
	space                         map[string]any
	search                        Searcher
	sched                         Scheduler
	stopper                       Stopper
	progress                      io.Writer
	verbose                       *int
	resumeErrored, restartErrored bool
}

// WithParamSpace gives the param space again; needed when it held values
// the state file cannot hold (SampleFrom, custom types).
func WithParamSpace(space map[string]any) RestoreOption {
	return func(o *restoreOptions) { o.space = space }
}

// WithSearchAlg gives the searcher again; needed for custom searchers.
// Built-in ones are rebuilt from the state file.
func WithSearchAlg(s Searcher) RestoreOption { return func(o *restoreOptions) { o.search = s } }

// WithScheduler gives the scheduler again; needed for custom schedulers
// and for PBT with CustomExplore.
func WithScheduler(s Scheduler) RestoreOption { return func(o *restoreOptions) { o.sched = s } }

// WithStopper sets RunConfig.Stopper, which the state file cannot hold.
func WithStopper(s Stopper) RestoreOption { return func(o *restoreOptions) { o.stopper = s } }

// WithProgress sets RunConfig.Progress and Verbose.
func WithProgress(w io.Writer, verbose int) RestoreOption {
	return func(o *restoreOptions) { o.progress, o.verbose = w, &verbose }
}

// ResumeErrored resumes trials that had failed from their latest checkpoint.
func ResumeErrored() RestoreOption { return func(o *restoreOptions) { o.resumeErrored = true } }

// RestartErrored restarts trials that had failed from scratch.
func RestartErrored() RestoreOption { return func(o *restoreOptions) { o.restartErrored = true } }

// Restore reloads the experiment in path (StoragePath/Name of an earlier
// Fit) so that Fit finishes it: finished trials keep their results and are
// not run again, unfinished ones resume from their latest checkpoint, and
// the searcher goes on where it was. The trainable, which cannot be saved,
// is given again; so are a SampleFrom param space, custom searchers and
// schedulers, and Stoppers (see the options).
func Restore(path string, trainable any, opts ...RestoreOption) (*Tuner, error) {
	var o restoreOptions
	for _, opt := range opts {
		opt(&o)
	}
	b, err := os.ReadFile(filepath.Join(path, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s holds no %s", ErrNotFound, path, stateFile)
		}
		return nil, fmt.Errorf("tune: restore: %w", err)
	}
	var st experimentState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidInput, filepath.Join(path, stateFile), err)
	}
	if st.Version > stateVersion {
		return nil, invalid("%s: state version %d is newer than this goray understands (%d)", stateFile, st.Version, stateVersion)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	t := &Tuner{Trainable: trainable,
		TuneConfig: TuneConfig{Metric: st.Metric, Mode: st.Mode, NumSamples: st.NumSamples,
			MaxConcurrentTrials: st.MaxConcurrentTrials, TimeBudget: time.Duration(st.TimeBudgetS * float64(time.Second)),
			Seed: st.Seed},
		RunConfig: RunConfig{Name: filepath.Base(abs), StoragePath: filepath.Dir(abs), Stop: st.Stop,
			Stopper: o.stopper, FailureConfig: FailureConfig{MaxFailures: st.MaxFailures, FailFast: st.FailFast},
			CheckpointConfig: CheckpointConfig{NumToKeep: st.NumToKeep}, Verbose: st.Verbose, Progress: o.progress},
		restored: &st}
	if o.verbose != nil {
		t.RunConfig.Verbose = *o.verbose
	}
	t.restored.resumeErrored, t.restored.restartErrored = o.resumeErrored, o.restartErrored
	switch {
	case o.space != nil:
		t.ParamSpace = o.space
	case st.ParamSpaceError != "":
		return nil, invalid("%s: the param space was not saved (%s); pass tune.WithParamSpace", stateFile, st.ParamSpaceError)
	case len(st.ParamSpace) > 0 && string(st.ParamSpace) != "null":
		v, err := decodeTypedJSON(st.ParamSpace)
		if err != nil {
			return nil, fmt.Errorf("%w: %s param_space: %v", ErrInvalidInput, stateFile, err)
		}
		t.ParamSpace, _ = v.(map[string]any)
	}
	if t.TuneConfig.SearchAlg = o.search; o.search == nil {
		if t.TuneConfig.SearchAlg, err = decodeSearcher(st.SearchAlg); err != nil {
			return nil, err
		}
	}
	if t.TuneConfig.Scheduler = o.sched; o.sched == nil {
		if t.TuneConfig.Scheduler, err = decodeScheduler(st.Scheduler); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// restoreTrials rebuilds the trials of a restored experiment and replays
// them into the searcher and the scheduler.
func (c *controller) restoreTrials(st *experimentState) error {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(c.expDir, p)
	}
	type replay struct {
		t *Trial
		m map[string]float64
	}
	var all []replay
	finished := map[*Trial]bool{}
	for i, ts := range st.Trials {
		v, err := decodeTypedJSON(ts.Config)
		if err != nil {
			return fmt.Errorf("%w: %s trial %s config: %v", ErrInvalidInput, stateFile, ts.ID, err)
		}
		cfg, _ := v.(map[string]any)
		t := &Trial{id: ts.ID, index: i, dir: abs(ts.Dir), config: Config(cfg), status: ts.Status,
			failures: ts.Failures, checkpoint: abs(ts.Checkpoint), checkpointIter: ts.CheckpointIter,
			checkpointTime: ts.CheckpointTime, ckptSeq: ts.CkptSeq}
		for _, p := range ts.Checkpoints {
			t.checkpoints = append(t.checkpoints, abs(p))
		}
		hist, err := readResults(filepath.Join(t.dir, resultFile))
		if err != nil {
			return fmt.Errorf("tune: restore trial %s: %w", ts.ID, err)
		}
		done := t.status.done()
		if t.status == StatusError && (st.resumeErrored || st.restartErrored) {
			done = false
			t.failures = 0
			if st.restartErrored {
				t.checkpoint, t.checkpointIter, t.checkpointTime, t.checkpoints = "", 0, 0, nil
			}
		}
		if t.status == StatusError && done {
			t.err = errors.New(ts.Error)
		}
		if !done {
			// It resumes from its checkpoint (or starts over, if it has
			// none or cannot resume): results after it will come again.
			keepIter := 0
			if t.checkpoint != "" && c.tr.resumable {
				keepIter = t.checkpointIter
			}
			keep := hist[:0]
			for _, m := range hist {
				if int(m["training_iteration"]) <= keepIter {
					keep = append(keep, m)
				}
			}
			hist = keep
			t.status = StatusPending
			// The files too: the next run appends after the checkpoint.
			if err := cutTrialLogs(t.dir, keepIter); err != nil {
				return fmt.Errorf("tune: restore trial %s: %w", ts.ID, err)
			}
		}
		t.history = hist
		for _, m := range hist {
			t.loggedIter = max(t.loggedIter, int(m["training_iteration"]))
		}
		if len(hist) > 0 {
			t.last = hist[len(hist)-1]
		}
		finished[t] = done
		c.trials = append(c.trials, t)
		c.byID[t.id] = t
		if r, ok := c.search.(trialRestorer); ok {
			r.restoreTrial(t.id, t.config, t.last, done)
		} else if done {
			c.search.OnTrialComplete(t.id, t.last, t.err)
		}
		c.sched.OnTrialAdd(t)
		for _, m := range hist {
			all = append(all, replay{t, m})
		}
	}
	c.searchDone = st.SearchFinished
	// Replay every result into the scheduler in the order they happened.
	sort.SliceStable(all, func(i, j int) bool { return all[i].m["timestamp"] < all[j].m["timestamp"] })
	remaining := map[*Trial]int{}
	for _, r := range all {
		remaining[r.t]++
	}
	last := map[*Trial]Decision{}
	c.replaying = true
	endFinished := func(t *Trial) {
		if t.status == StatusError {
			c.sched.OnTrialError(t)
		} else {
			c.sched.OnTrialComplete(t, t.last)
		}
	}
	for _, t := range c.trials {
		if finished[t] && remaining[t] == 0 {
			endFinished(t)
		}
	}
	for _, r := range all {
		last[r.t] = c.sched.OnTrialResult(r.t, r.m)
		if remaining[r.t]--; remaining[r.t] == 0 && finished[r.t] {
			endFinished(r.t)
		}
	}
	c.replaying = false
	for _, t := range c.trials {
		if finished[t] || t.status != StatusPending {
			continue
		}
		switch last[t] {
		case Stop:
			c.complete(t)
		case Pause:
			if t.checkpoint != "" {
				t.status = StatusPaused
			}
		}
	}
	return nil
}

// encodeTyped converts a config or param space into JSON values that keep
// Go's int/float64 distinction (floats always carry a '.' or exponent) and
// built-in Domains ({"$domain": ...}). SampleFrom and values of other types
// are errors.
func encodeTyped(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10)), nil
	case float32:
		return encodeFloat(float64(x)), nil
	case float64:
		return encodeFloat(x), nil
	case map[string]any, Config:
		m, _ := asMap(x)
		out := make(map[string]any, len(m))
		for k, e := range m {
			enc, err := encodeTyped(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = enc
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			enc, err := encodeTyped(e)
			if err != nil {
				return nil, fmt.Errorf("%d: %w", i, err)
			}
			out[i] = enc
		}
		return out, nil
	case Domain:
		return encodeDomain(x)
	}
	return nil, fmt.Errorf("a %T cannot be saved", v)
}

func encodeFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return map[string]any{"$float": strconv.FormatFloat(f, 'g', -1, 64)}
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return json.Number(s)
}

func encodeDomain(d Domain) (any, error) {
	vals := func(vs []any) (any, error) { return encodeTyped(vs) }
	switch d := d.(type) {
	case gridDomain:
		v, err := vals(d.values)
		return map[string]any{"$domain": "grid", "values": v}, err
	case choiceDomain:
		v, err := vals(d.values)
		return map[string]any{"$domain": "choice", "values": v}, err
	case listDomain:
		v, err := vals(d.values)
		return map[string]any{"$domain": "list", "values": v}, err
	case floatDomain:
		return map[string]any{"$domain": "float", "name": d.name, "lo": encodeFloat(d.lo), "hi": encodeFloat(d.hi),
			"q": encodeFloat(d.q), "log": d.log}, nil
	case intDomain:
		return map[string]any{"$domain": "int", "name": d.name, "lo": d.lo, "hi": d.hi, "q": d.q}, nil
	case normalDomain:
		return map[string]any{"$domain": "normal", "mean": encodeFloat(d.mean), "sd": encodeFloat(d.sd)}, nil
	}
	return nil, fmt.Errorf("%s cannot be saved", d)
}

func decodeTypedJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return decodeTyped(v)
}

func decodeTyped(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			return strconv.ParseFloat(s, 64)
		}
		i, err := strconv.ParseInt(s, 10, 64)
		return int(i), err
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			d, err := decodeTyped(e)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case map[string]any:
		if f, ok := x["$float"].(string); ok && len(x) == 1 {
			return strconv.ParseFloat(f, 64)
		}
		if kind, ok := x["$domain"].(string); ok {
			return decodeDomain(kind, x)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			d, err := decodeTyped(e)
			if err != nil {
				return nil, err
			}
			out[k] = d
		}
		return out, nil
	}
	return v, nil
}

func decodeDomain(kind string, m map[string]any) (Domain, error) {
	get := func(k string) any {
		v, _ := decodeTyped(m[k])
		return v
	}
	f := func(k string) float64 { x, _ := toFloat(get(k)); return x }
	i := func(k string) int { x, _ := toFloat(get(k)); return int(x) }
	values := func() []any { v, _ := get("values").([]any); return v }
	name, _ := m["name"].(string)
	switch kind {
	case "grid":
		return gridDomain{values: values()}, nil
	case "choice":
		return choiceDomain{values: values()}, nil
	case "list":
		return listDomain{values: values()}, nil
	case "float":
		log, _ := m["log"].(bool)
		return floatDomain{name: name, lo: f("lo"), hi: f("hi"), q: f("q"), log: log}, nil
	case "int":
		return intDomain{name: name, lo: i("lo"), hi: i("hi"), q: i("q")}, nil
	case "normal":
		return normalDomain{mean: f("mean"), sd: f("sd")}, nil
	}
	return nil, fmt.Errorf("unknown domain kind %q", kind)
}

func encodeSearcher(s Searcher) (*componentSpec, error) {
	switch s := s.(type) {
	case *BasicVariantGenerator:
		b, err := json.Marshal(s)
		return &componentSpec{Kind: "basic", Config: b}, err
	case *TPESearch:
		b, err := json.Marshal(s)
		return &componentSpec{Kind: "tpe", Config: b}, err
	case *limiter:
		inner, err := encodeSearcher(s.inner)
		if err != nil {
			return nil, err
		}
		return &componentSpec{Kind: "limiter", Config: json.RawMessage(strconv.Itoa(s.max)), Inner: inner}, nil
	}
	return nil, fmt.Errorf("searcher %T cannot be saved", s)
}

func decodeSearcher(spec *componentSpec) (Searcher, error) {
	if spec == nil {
		return nil, invalid("%s: the searcher was not saved (a custom searcher?); pass tune.WithSearchAlg", stateFile)
	}
	var s Searcher
	switch spec.Kind {
	case "basic":
		s = &BasicVariantGenerator{}
	case "tpe":
		s = &TPESearch{}
	case "limiter":
		inner, err := decodeSearcher(spec.Inner)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(string(spec.Config))
		if err != nil {
			return nil, invalid("%s: limiter: %v", stateFile, err)
		}
		return ConcurrencyLimiter(inner, n), nil
	default:
		return nil, invalid("%s: unknown searcher kind %q", stateFile, spec.Kind)
	}
	if err := json.Unmarshal(spec.Config, s); err != nil {
		return nil, invalid("%s: searcher %s: %v", stateFile, spec.Kind, err)
	}
	return s, nil
}

// pbtSpec is the savable part of PopulationBasedTraining.
type pbtSpec struct {
	TimeAttr             string
	PerturbationInterval float64
	HyperparamMutations  json.RawMessage
	QuantileFraction     float64
	ResampleProbability  float64
	PerturbationFactors  [2]float64
	Seed                 int64
}

func encodeScheduler(s Scheduler) (*componentSpec, error) {
	var kind string
	switch s := s.(type) {
	case *FIFOScheduler:
		kind = "fifo"
	case *ASHAScheduler:
		kind = "asha"
	case *HyperBandScheduler:
		kind = "hyperband"
	case *MedianStoppingRule:
		kind = "median"
	case *PopulationBasedTraining:
		if s.CustomExplore != nil {
			return nil, fmt.Errorf("PBT with CustomExplore cannot be saved")
		}
		muts, err := encodeTyped(s.HyperparamMutations)
		if err != nil {
			return nil, err
		}
		mb, err := json.Marshal(muts)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(pbtSpec{TimeAttr: s.TimeAttr, PerturbationInterval: s.PerturbationInterval,
			HyperparamMutations: mb, QuantileFraction: s.QuantileFraction, ResampleProbability: s.ResampleProbability,
			PerturbationFactors: s.PerturbationFactors, Seed: s.Seed})
		return &componentSpec{Kind: "pbt", Config: b}, err
	default:
		return nil, fmt.Errorf("scheduler %T cannot be saved", s)
	}
	b, err := json.Marshal(s)
	return &componentSpec{Kind: kind, Config: b}, err
}

func decodeScheduler(spec *componentSpec) (Scheduler, error) {
	if spec == nil {
		return nil, invalid("%s: the scheduler was not saved (a custom one, or PBT with CustomExplore); pass tune.WithScheduler", stateFile)
	}
	var s Scheduler
	switch spec.Kind {
	case "fifo":
		return &FIFOScheduler{}, nil
	case "asha":
		s = &ASHAScheduler{}
	case "hyperband":
		s = &HyperBandScheduler{}
	case "median":
		s = &MedianStoppingRule{}
	case "pbt":
		var ps pbtSpec
		if err := json.Unmarshal(spec.Config, &ps); err != nil {
			return nil, invalid("%s: pbt: %v", stateFile, err)
		}
		muts, err := decodeTypedJSON(ps.HyperparamMutations)
		if err != nil {
			return nil, invalid("%s: pbt mutations: %v", stateFile, err)
		}
		m, _ := muts.(map[string]any)
		return &PopulationBasedTraining{TimeAttr: ps.TimeAttr, PerturbationInterval: ps.PerturbationInterval,
			HyperparamMutations: m, QuantileFraction: ps.QuantileFraction, ResampleProbability: ps.ResampleProbability,
			PerturbationFactors: ps.PerturbationFactors, Seed: ps.Seed}, nil
	default:
		return nil, invalid("%s: unknown scheduler kind %q", stateFile, spec.Kind)
	}
	if err := json.Unmarshal(spec.Config, s); err != nil {
		return nil, invalid("%s: scheduler %s: %v", stateFile, spec.Kind, err)
	}
	return s, nil
}
