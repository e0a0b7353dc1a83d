package tune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Files of a trial directory.
const (
	paramsFile   = "params.json"
	resultFile   = "result.json"
	progressFile = "progress.csv"
)

// trialLogger writes a trial's result.json (one JSON object per result),
// progress.csv and TensorBoard events. One run of a trial owns it; writes
// are buffered until flush.
type trialLogger struct {
	dir     string
	jsonF   *os.File
	csvF    *os.File
	jsonW   *bufio.Writer
	csvW    *bufio.Writer
	csvCols []string
	tb      *eventWriter
	line    []byte
}

func openTrialLogger(dir string, run int, config Config) (*trialLogger, error) {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	params, err := json.MarshalIndent(jsonable(map[string]any(config)), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tune: write %s: %w", paramsFile, err)
	}
	if err := os.WriteFile(filepath.Join(dir, paramsFile), append(params, '\n'), 0o644); err != nil {
		return nil, err
	}
	l := &trialLogger{dir: dir}
	if l.jsonF, err = os.OpenFile(filepath.Join(dir, resultFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	if l.csvF, err = os.OpenFile(filepath.Join(dir, progressFile), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644); err != nil {
		l.close()
		return nil, err
	}
	// A resumed run keeps the columns of the existing header.
	if fi, err := l.csvF.Stat(); err == nil && fi.Size() > 0 {
		if hdr, _ := bufio.NewReader(l.csvF).ReadString('\n'); hdr != "" {
			l.csvCols = strings.Split(strings.TrimRight(hdr, "\r\n"), ",")
		}
	}
	if l.tb, err = newEventWriter(dir, run); err != nil {
		l.close()
		return nil, err
	}
	l.jsonW, l.csvW = bufio.NewWriter(l.jsonF), bufio.NewWriter(l.csvF)
	return l, nil
}

// write buffers one result for the three files.
func (l *trialLogger) write(m map[string]float64) error {
	keys := sortedKeys(m)
	l.line = appendResultJSON(l.line[:0], keys, m)
	l.line = append(l.line, '\n')
	l.jsonW.Write(l.line)
	l.line = l.line[:0]
	if l.csvCols == nil {
		l.csvCols = keys
		l.line = append(l.line, strings.Join(keys, ",")...)
		l.line = append(l.line, '\n')
	}
	for i, k := range l.csvCols {
		if i > 0 {
			l.line = append(l.line, ',')
		}
		if v, ok := m[k]; ok {
			l.line = strconv.AppendFloat(l.line, v, 'g', -1, 64)
		}
	}
	l.line = append(l.line, '\n')
	l.csvW.Write(l.line)
	return l.tb.scalars(m["timestamp"], int64(m["training_iteration"]), m)
}

// flush writes the buffered results to the files.
func (l *trialLogger) flush() error {
	return errors.Join(l.jsonW.Flush(), l.csvW.Flush(), l.tb.w.Flush())
}

func (l *trialLogger) close() error {
	var errs []error
	if l.jsonW != nil {
		errs = append(errs, l.flush())
	}
	for _, f := range []*os.File{l.jsonF, l.csvF} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	if l.tb != nil {
		errs = append(errs, l.tb.close())
	}
	return errors.Join(errs...)
}

// logsDone tells the controller that a run's logs are on disk.
type logsDone struct {
	t   *Trial
	err error
}

// logSink writes the trials' logs off their critical path: each run gets
// a writer goroutine fed by a queue, and at most maxIO writers do file I/O
// at a time. The controller owns it and waits for every writer.
type logSink struct {
	sem    chan struct{}
	events chan<- event
	wg     sync.WaitGroup
}

func newLogSink(events chan<- event, maxIO int) *logSink {
	return &logSink{sem: make(chan struct{}, maxIO), events: events}
}

// runLog is the queue of one run's results.
type runLog struct {
	mu     sync.Mutex
	closed bool
	q      chan map[string]float64
}

// start begins the logs of one run; the returned runLog must be closed,
// after which the controller gets a logsDone. The writer starts once the
// trial's previous run's writer is done; if cut >= 0 it first cuts the
// trial's result.json and progress.csv back to iteration cut, where the
// run starts.
func (s *logSink) start(t *Trial, spec runSpec, cut int) *runLog {
	rl := &runLog{q: make(chan map[string]float64, 256)}
	prev, idle := t.logsIdle, make(chan struct{})
	t.logsIdle = idle
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(idle)
		if prev != nil {
			<-prev
		}
		s.events <- logsDone{t: t, err: s.write(spec, cut, rl.q)}
	}()
	return rl
}

func (s *logSink) write(spec runSpec, cut int, q <-chan map[string]float64) error {
	var l *trialLogger
	var err error
	batch := make([]map[string]float64, 0, 64)
	open := true
	for open {
		m, ok := <-q
		batch = append(batch[:0], m)
		open = ok
	drain:
		for open && len(batch) < cap(batch) {
			select {
			case m, ok := <-q:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		s.sem <- struct{}{}
		if l == nil && err == nil && cut >= 0 {
			err = cutTrialLogs(spec.Dir, cut)
			cut = -1
		}
		if l == nil && err == nil {
			l, err = openTrialLogger(spec.Dir, spec.Run, spec.Config)
		}
		for _, m := range batch {
			if m != nil && err == nil {
				err = l.write(m)
			}
		}
		if err == nil {
			err = l.flush()
		}
		if !open && l != nil {
			if cerr := l.close(); err == nil {
				err = cerr
			}
		}
		<-s.sem
	}
	if err != nil {
		return fmt.Errorf("tune: trial %s: write logs in %s: %w", spec.TrialID, spec.Dir, err)
	}
	return nil
}

// add queues a result; m must not be modified afterwards. Results added
// after close (by a goroutine the trainable left behind) are dropped.
func (rl *runLog) add(m map[string]float64) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if !rl.closed {
		rl.q <- m
	}
}

// close ends the run's logs.
func (rl *runLog) close() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if !rl.closed {
		rl.closed = true
		close(rl.q)
	}
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// appendResultJSON writes a result as a JSON object; NaN and ±Inf, which
// JSON lacks, are written as the strings "NaN", "+Inf" and "-Inf".
func appendResultJSON(b []byte, keys []string, m map[string]float64) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = appendJSONFloat(b, m[k])
	}
	return append(b, '}')
}

func appendJSONFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// readResults parses a result.json; a torn last line (the process was
// killed while writing it) is dropped.
func readResults(path string) ([]map[string]float64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []map[string]float64
	for n, line := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, err := parseResultLine(line)
		if err != nil {
			if n == bytes.Count(b, []byte{'\n'}) { // last, unterminated line
				break
			}
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// cutTrialLogs cuts a trial's result.json and progress.csv back to the
// results of iterations up to keepIter (none when keepIter is 0), the
// checkpoint its next run resumes from, so that the iterations the run
// reports again appear once. TensorBoard event files are append-only and
// keep the older events.
func cutTrialLogs(dir string, keepIter int) error {
	keep := func(iter float64, ok bool) bool { return ok && iter <= float64(keepIter) }
	// result.json: one JSON object a line; a torn last line goes too.
	path := filepath.Join(dir, resultFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		var out []byte
		for _, line := range bytes.SplitAfter(b, []byte{'\n'}) {
			if len(line) == 0 || line[len(line)-1] != '\n' {
				continue
			}
			m, err := parseResultLine(line)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			it, ok := m["training_iteration"]
			if keep(it, ok) {
				out = append(out, line...)
			}
		}
		if err := writeFileAtomic(path, out); err != nil {
			return err
		}
	}
	// progress.csv: a header, then a row per result.
	path = filepath.Join(dir, progressFile)
	b, err = os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	lines := bytes.SplitAfter(b, []byte{'\n'})
	if len(lines) == 0 || len(lines[0]) == 0 || lines[0][len(lines[0])-1] != '\n' {
		return os.Remove(path) // not even a whole header
	}
	col := -1
	for i, name := range strings.Split(strings.TrimRight(string(lines[0]), "\r\n"), ",") {
		if name == "training_iteration" {
			col = i
		}
	}
	out := append([]byte(nil), lines[0]...)
	for _, line := range lines[1:] {
		if len(line) == 0 || line[len(line)-1] != '\n' {
			continue
		}
		cells := strings.Split(strings.TrimRight(string(line), "\r\n"), ",")
		ok := col >= 0 && col < len(cells)
		var it float64
		if ok {
			var err error
			it, err = strconv.ParseFloat(cells[col], 64)
			ok = err == nil
		}
		if keep(it, ok) {
			out = append(out, line...)
		}
	}
	return writeFileAtomic(path, out)
}

// writeFileAtomic replaces path with b (a temporary file, then rename).
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func parseResultLine(line []byte) (map[string]float64, error) {
	var raw map[string]any
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, err
	}
	m := make(map[string]float64, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case float64:
			m[k] = x
		case string:
			switch x {
			case "NaN":
				m[k] = math.NaN()
			case "+Inf":
				m[k] = math.Inf(1)
			case "-Inf":
				m[k] = math.Inf(-1)
			}
		}
	}
	return m, nil
}

// jsonable converts a config into values encoding/json can write,
// rendering anything else with fmt.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case Config:
		return jsonable(map[string]any(x))
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = jsonable(e)
		}
		return s
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case nil, bool, string, int, int64, int32, uint, uint64, uint32, float32, json.Marshaler:
		return x
	}
	if _, err := json.Marshal(v); err == nil {
		return v
	}
	return fmt.Sprint(v)
}
