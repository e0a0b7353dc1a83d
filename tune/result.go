package tune

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/goray/goray/checkpoint"
)

// Result is the outcome of one trial.
type Result struct {
	TrialID string
	// Config is the trial's (final, for PBT) config.
	Config Config
	// Metrics is the last result reported; nil if there was none.
	Metrics map[string]float64
	// MetricsHistory holds every result, in order.
	MetricsHistory []map[string]float64
	// Checkpoint is the trial's latest checkpoint, nil if it reported none.
	Checkpoint *checkpoint.Checkpoint
	// Path is the trial's directory (params.json, result.json, progress.csv,
	// TensorBoard events, checkpoints).
	Path   string
	Status Status
	// Err is why the trial failed (Status ERROR), nil otherwise.
	Err error
}

// ResultGrid holds the results of an experiment's trials in creation order.
type ResultGrid struct {
	results      []Result
	metric, mode string
	path         string
}

// Len returns the number of trials.
func (g *ResultGrid) Len() int { return len(g.results) }

// Get returns the i-th trial's result.
func (g *ResultGrid) Get(i int) Result { return g.results[i] }

// Results returns every result.
func (g *ResultGrid) Results() []Result { return g.results }

// Path returns the experiment directory.
func (g *ResultGrid) Path() string { return g.path }

// Errors returns the errors of the trials that failed.
func (g *ResultGrid) Errors() []error {
	var errs []error
	for _, r := range g.results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errs
}

// Scopes of GetBestResult.
const (
	ScopeLast      = "last"        // the last result
	ScopeAvg       = "avg"         // the mean over all results
	ScopeLast5Avg  = "last-5-avg"  // the mean of the last 5 results
	ScopeLast10Avg = "last-10-avg" // the mean of the last 10 results
	ScopeAll       = "all"         // the best result at any iteration
)

// GetBestResult returns the trial whose metric is best (mode "min" or
// "max") in the given scope. Empty metric and mode default to TuneConfig's;
// an empty scope is "last". Trials whose value is missing, NaN or infinite
// are skipped; ErrNotFound if none is left.
func (g *ResultGrid) GetBestResult(metric, mode, scope string) (Result, error) {
	if metric == "" {
		metric = g.metric
	}
	if mode == "" {
		mode = g.mode
	}
	if scope == "" {
		scope = ScopeLast
	}
	if metric == "" {
		return Result{}, invalid("GetBestResult: no metric given and TuneConfig.Metric is empty")
	}
	if mode != "min" && mode != "max" {
		return Result{}, invalid("GetBestResult: mode %q must be \"min\" or \"max\"", mode)
	}
	switch scope {
	case ScopeLast, ScopeAvg, ScopeLast5Avg, ScopeLast10Avg, ScopeAll:
	default:
		return Result{}, invalid("GetBestResult: scope %q must be one of last, avg, last-5-avg, last-10-avg, all", scope)
	}
	sign := 1.0
	if mode == "min" {
		sign = -1
	}
	best, bestV := -1, math.Inf(-1)
	for i, r := range g.results {
		v, ok := scopeValue(r.MetricsHistory, metric, scope, sign)
		if !ok {
			continue
		}
		if v == v && !math.IsInf(v, 0) && (best < 0 || sign*v > bestV) {
			best, bestV = i, sign*v
		}
	}
	if best < 0 {
		return Result{}, fmt.Errorf("%w: no trial reported metric %q", ErrNotFound, metric)
	}
	return g.results[best], nil
}

func scopeValue(h []map[string]float64, metric, scope string, sign float64) (float64, bool) {
	var vals []float64
	for _, m := range h {
		if v, ok := m[metric]; ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	mean := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	switch scope {
	case ScopeAvg:
		return mean(vals), true
	case ScopeLast5Avg:
		return mean(vals[max(0, len(vals)-5):]), true
	case ScopeLast10Avg:
		return mean(vals[max(0, len(vals)-10):]), true
	case ScopeAll:
		b := vals[0]
		for _, v := range vals {
			if sign*v > sign*b {
				b = v
			}
		}
		return b, true
	}
	return vals[len(vals)-1], true
}

// WriteCSV writes one row per trial: trial_id, status, error, the
// flattened config as config/<path> columns, then the last result's
// metrics.
func (g *ResultGrid) WriteCSV(w io.Writer) error {
	cfgCols, metCols := map[string]bool{}, map[string]bool{}
	for _, r := range g.results {
		for k := range r.Config.Flatten() {
			cfgCols[k] = true
		}
		for k := range r.Metrics {
			metCols[k] = true
		}
	}
	cc, mc := sortedSet(cfgCols), sortedSet(metCols)
	cw := csv.NewWriter(w)
	hdr := []string{"trial_id", "status", "error"}
	for _, k := range cc {
		hdr = append(hdr, "config/"+k)
	}
	hdr = append(hdr, mc...)
	if err := cw.Write(hdr); err != nil {
		return err
	}
	for _, r := range g.results {
		row := []string{r.TrialID, string(r.Status), ""}
		if r.Err != nil {
			row[2] = r.Err.Error()
		}
		flat := r.Config.Flatten()
		for _, k := range cc {
			if v, ok := flat[k]; ok {
				row = append(row, fmt.Sprint(v))
			} else {
				row = append(row, "")
			}
		}
		for _, k := range mc {
			if v, ok := r.Metrics[k]; ok {
				row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
			} else {
				row = append(row, "")
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resultGrid snapshots the trials.
func (c *controller) resultGrid() *ResultGrid {
	g := &ResultGrid{metric: c.metric, mode: c.mode, path: c.expDir}
	for _, t := range c.trials {
		r := Result{TrialID: t.id, Config: t.config, Metrics: t.last, MetricsHistory: t.history,
			Path: t.dir, Status: t.status}
		if t.status == StatusError {
			r.Err = t.err
		}
		if t.checkpoint != "" {
			if ck, err := checkpoint.FromDirectory(t.checkpoint); err == nil {
				r.Checkpoint = ck
			}
		}
		g.results = append(g.results, r)
	}
	return g
}
