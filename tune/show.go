package tune

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/goray/goray/checkpoint"
)

// LoadResults reads a finished or running experiment from its directory
// (experiment_state.json and each trial's result.json) without running
// anything: what `goray tune show` prints. Metric and mode default to the
// experiment's own.
func LoadResults(path string) (*ResultGrid, error) {
	b, err := os.ReadFile(filepath.Join(path, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s holds no %s (is it an experiment directory?)", ErrNotFound, path, stateFile)
		}
		return nil, err
	}
	var st experimentState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidInput, filepath.Join(path, stateFile), err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(path, p)
	}
	g := &ResultGrid{metric: st.Metric, mode: st.Mode, path: path}
	for _, ts := range st.Trials {
		v, err := decodeTypedJSON(ts.Config)
		if err != nil {
			return nil, fmt.Errorf("%w: %s trial %s config: %v", ErrInvalidInput, stateFile, ts.ID, err)
		}
		cfg, _ := v.(map[string]any)
		r := Result{TrialID: ts.ID, Config: Config(cfg), Path: abs(ts.Dir), Status: ts.Status}
		if ts.Error != "" {
			r.Err = errors.New(ts.Error)
		}
		if r.MetricsHistory, err = readResults(filepath.Join(r.Path, resultFile)); err != nil {
			return nil, fmt.Errorf("tune: trial %s: %w", ts.ID, err)
		}
		if n := len(r.MetricsHistory); n > 0 {
			r.Metrics = r.MetricsHistory[n-1]
		}
		if p := abs(ts.Checkpoint); p != "" {
			if c, err := checkpoint.FromDirectory(p); err == nil {
				r.Checkpoint = c
			}
		}
		g.results = append(g.results, r)
	}
	return g, nil
}

// Metric and Mode are what the experiment optimised ("" if none was set).
func (g *ResultGrid) Metric() string { return g.metric }

// Mode is "min" or "max", or "" if the experiment set no metric.
func (g *ResultGrid) Mode() string { return g.mode }

// WriteTable prints one line per trial (status, config, iterations, the
// metric) and then the best trial, as `goray tune show` does.
func (g *ResultGrid) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	metric := g.metric
	header := "trial\tstatus\tconfig\titer"
	if metric != "" {
		header += "\t" + metric
	}
	fmt.Fprintln(tw, header)
	for _, r := range g.results {
		iter := ""
		if r.Metrics != nil {
			iter = fmtFloat(r.Metrics["training_iteration"])
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s", r.TrialID, r.Status, flatConfig(r.Config), iter)
		if metric != "" {
			v := ""
			if m, ok := r.Metrics[metric]; ok {
				v = fmtFloat(m)
			}
			line += "\t" + v
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if metric == "" {
		fmt.Fprintln(w, "\nno metric was set: no best trial")
		return nil
	}
	best, err := g.GetBestResult("", "", ScopeLast)
	if err != nil {
		fmt.Fprintf(w, "\nbest trial: none (%v)\n", err)
		return nil
	}
	fmt.Fprintf(w, "\nbest trial %s (%s %s = %s): %s\n", best.TrialID, g.mode, metric, fmtFloat(best.Metrics[metric]), flatConfig(best.Config))
	if best.Checkpoint != nil {
		fmt.Fprintf(w, "checkpoint: %s\n", best.Checkpoint.Path())
	}
	return nil
}

// flatConfig renders a config as sorted key=value pairs, nested keys dotted.
func flatConfig(c Config) string {
	flat := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			flat[prefix+k] = v
		}
	}
	walk("", c)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		if f, ok := flat[k].(float64); ok {
			parts[i] = k + "=" + fmtFloat(f)
		} else {
			parts[i] = fmt.Sprintf("%s=%v", k, flat[k])
		}
	}
	return strings.Join(parts, " ")
}
