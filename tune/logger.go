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
)

// Files of a trial directory.
const (
	paramsFile   = "params.json"
	resultFile   = "result.json"
	progressFile = "progress.csv"
)

// trialLogger writes a trial's result.json (one JSON object per result),
// progress.csv and TensorBoard events. One run of a trial owns it.
type trialLogger struct {
	dir     string
	jsonF   *os.File
	csvF    *os.File
	csvCols []string
	tb      *eventWriter
	line    []byte
}

func openTrialLogger(dir string, run int, config Config) (*trialLogger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
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
	if hdr, _ := bufio.NewReader(l.csvF).ReadString('\n'); hdr != "" {
		l.csvCols = strings.Split(strings.TrimRight(hdr, "\r\n"), ",")
	}
	if l.tb, err = newEventWriter(dir, run); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// write appends one result to the three files.
func (l *trialLogger) write(m map[string]float64) error {
	keys := sortedKeys(m)
	l.line = appendResultJSON(l.line[:0], keys, m)
	l.line = append(l.line, '\n')
	if _, err := l.jsonF.Write(l.line); err != nil {
		return err
	}
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
	if _, err := l.csvF.Write(l.line); err != nil {
		return err
	}
	return l.tb.scalars(m["timestamp"], int64(m["training_iteration"]), m)
}

func (l *trialLogger) close() error {
	var errs []error
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
