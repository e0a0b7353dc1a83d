package preprocess

import (
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
)

// ErrNotFitted is returned by Transform and TransformBatch of a
// preprocessor that needs fitting and has not been fitted.
var ErrNotFitted = errors.New("preprocess: preprocessor is not fitted")

// ErrUnknownType is returned by Unmarshal for a type name (or BatchMapper
// function name) that is not registered.
var ErrUnknownType = errors.New("preprocess: unknown preprocessor type")

// fitPlan is how a preprocessor fits: block computes a partial statistic of
// one block of rows (run in parallel, one task per block), merge combines
// two partials (called in block order) and finish stores the fitted state
// from the merged total. rows is the number of rows seen.
type fitPlan struct {
	// columns are checked against the schema before any block runs;
	// numeric also requires them to be numbers.
	columns []string
	numeric bool
	block   func(rec arrow.Record) (any, error)
	merge   func(a, b any) any
	finish  func(total any, rows int64) error
}

// planner is implemented by preprocessors that learn state from data.
// Stateless ones (Normalizer, Concatenator, Tokenizer, FeatureHasher,
// HashingVectorizer, BatchMapper) do not implement it.
type planner interface {
	plan() (*fitPlan, error)
}

// partial is what one block of a fit produces. Its fields are exported and
// its statistic types registered with gob so that the object store can
// spill it.
type partial struct {
	Rows int64
	Stat any
}

func init() {
	gob.Register(partial{})
	gob.Register([]Moments(nil))
	gob.Register([]Extent(nil))
	gob.Register([]Sorted(nil))
	gob.Register([]Values(nil))
	gob.Register([]*Counts(nil))
	gob.Register([]map[string]int64(nil))
}

// fitBlock runs a plan's block function on one record.
func (pl *fitPlan) fitBlock(rec arrow.Record) (partial, error) {
	st, err := pl.block(rec)
	if err != nil {
		return partial{}, err
	}
	return partial{Rows: rec.NumRows(), Stat: st}, nil
}

// finishParts merges the block partials in order and calls finish; typ
// names the preprocessor in the empty-dataset error.
func (pl *fitPlan) finishParts(typ string, parts []partial) error {
	var rows int64
	var total any
	for i, p := range parts {
		rows += p.Rows
		if i == 0 {
			total = p.Stat
		} else {
			total = pl.merge(total, p.Stat)
		}
	}
	if rows == 0 {
		return fmt.Errorf("%w: %s: cannot fit on an empty dataset (0 rows)", ErrInvalidInput, typ)
	}
	return pl.finish(total, rows)
}

// perColumn builds the usual plan: one statistic per column, computed from
// the column's values as float64 (NaN for null), merged column by column.
func perColumn[S any](typ string, cols []string, of func([]float64) S, merge func(S, S) S, finish func([]S) error) *fitPlan {
	return &fitPlan{
		columns: cols,
		numeric: true,
		block: func(rec arrow.Record) (any, error) {
			out := make([]S, len(cols))
			for i, c := range cols {
				vals, _, err := numericColumn(rec, typ, c)
				if err != nil {
					return nil, err
				}
				out[i] = of(vals)
			}
			return out, nil
		},
		merge: func(a, b any) any {
			x, y := a.([]S), b.([]S)
			out := make([]S, len(x))
			for i := range x {
				out[i] = merge(x[i], y[i])
			}
			return out
		},
		finish: func(total any, _ int64) error { return finish(total.([]S)) },
	}
}

// noValues is the error for a column with nothing to fit on.
func noValues(typ, col string) error {
	return fmt.Errorf("%w: %s: column %q has no values to fit (all null or NaN)", ErrInvalidInput, typ, col)
}

// notFinite is the error for a column whose statistics overflow.
func notFinite(typ, col string) error {
	return fmt.Errorf("%w: %s: column %q contains infinite values (or values too large to sum)", ErrInvalidInput, typ, col)
}

// checkConfig is the common validation of a column list.
func checkConfig(typ string, cols []string) error {
	if len(cols) == 0 {
		return fmt.Errorf("%w: %s: no columns given", ErrInvalidInput, typ)
	}
	for i, c := range cols {
		if slices.Contains(cols[:i], c) {
			return fmt.Errorf("%w: %s: column %q given twice", ErrInvalidInput, typ, c)
		}
	}
	return nil
}

// ---- serialisation ----

var (
	regMu    sync.RWMutex
	registry = map[string]func() Preprocessor{}
)

// Register makes a preprocessor type loadable by Unmarshal under name
// (the value its TypeName returns). newFn returns a zero value that
// json.Unmarshal fills with the state Marshal wrote. It panics if name is
// registered twice. Every preprocessor of this package is registered.
func Register(name string, newFn func() Preprocessor) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("preprocess: Register called twice for %q", name))
	}
	registry[name] = newFn
}

// envelope is the JSON form of a preprocessor.
type envelope struct {
	Type  string          `json:"type"`
	State json.RawMessage `json:"state"`
}

// Marshal returns p's configuration and fitted state as JSON:
// {"type": "StandardScaler", "state": {...}}. A Chain nests its stages in
// the same form. The bytes are what a checkpoint stores in
// preprocessor.json; Unmarshal reverses it.
func Marshal(p Preprocessor) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: Marshal of a nil preprocessor", ErrInvalidInput)
	}
	state, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("preprocess: marshal %s: %w", p.TypeName(), err)
	}
	return json.Marshal(envelope{Type: p.TypeName(), State: state})
}

// Unmarshal rebuilds a preprocessor from Marshal's output. The type must be
// registered (all of this package's are); a BatchMapper's function must
// have been registered with RegisterBatchMapper under its name.
func Unmarshal(b []byte) (Preprocessor, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: preprocessor JSON: %v", ErrInvalidInput, err)
	}
	if env.Type == "" {
		return nil, fmt.Errorf("%w: preprocessor JSON has no \"type\"", ErrInvalidInput)
	}
	regMu.RLock()
	newFn := registry[env.Type]
	regMu.RUnlock()
	if newFn == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, env.Type)
	}
	p := newFn()
	if len(env.State) > 0 && string(env.State) != "null" {
		if err := json.Unmarshal(env.State, p); err != nil {
			return nil, fmt.Errorf("%w: %s state: %v", ErrInvalidInput, env.Type, err)
		}
	}
	if v, ok := p.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	return p, nil
}
