package preprocess

import (
	"cmp"
	"crypto/sha1"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/twmb/murmur3"
)

// DefaultTokenizer is the name of the built-in tokenization function:
// split on single spaces, exactly as Ray's default (Python's
// value.split(" ")), so "a  b" gives "a", "", "b".
const DefaultTokenizer = "split"

var (
	tokMu      sync.RWMutex
	tokenizers = map[string]func(string) []string{
		DefaultTokenizer: func(s string) []string { return strings.Split(s, " ") },
	}
)

// RegisterTokenizer makes a tokenization function usable by name in
// Tokenizer, HashingVectorizer and CountVectorizer. Functions cannot be
// serialised, so a checkpoint stores the name and the process that loads
// it must register the same function first. It panics on a duplicate name.
func RegisterTokenizer(name string, fn func(string) []string) {
	tokMu.Lock()
	defer tokMu.Unlock()
	if _, dup := tokenizers[name]; dup || fn == nil {
		panic(fmt.Sprintf("preprocess: RegisterTokenizer: duplicate or nil function %q", name))
	}
	tokenizers[name] = fn
}

func tokenizer(typ, name string) (func(string) []string, error) {
	if name == "" {
		name = DefaultTokenizer
	}
	tokMu.RLock()
	fn := tokenizers[name]
	tokMu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("%w: %s: tokenization function %q is not registered (RegisterTokenizer)", ErrUnknownType, typ, name)
	}
	return fn, nil
}

// tokensOf returns, for each row of arr, its tokens (nil, false for null).
// A string column is tokenized with fn; a list<string> column (a
// Tokenizer's output) is used as is. Call release once toks is no longer
// used.
func tokensOf(typ, col string, arr arrow.Array, fn func(string) []string) (toks func(int) ([]string, bool), release func(), err error) {
	if l, ok := arr.(array.ListLike); ok {
		child := l.ListValues()
		if k, err := kindOf(typ, col, child.DataType(), false); err != nil || k != KindString {
			return nil, nil, fmt.Errorf("%w: %s: column %q has type %s, want strings or lists of strings", ErrInvalidInput, typ, col, arr.DataType())
		}
		value, release := stringValue(child)
		return func(r int) ([]string, bool) {
			if l.IsNull(r) {
				return nil, false
			}
			start, end := l.ValueOffsets(r)
			toks := make([]string, 0, end-start)
			for j := start; j < end; j++ {
				if child.IsValid(int(j)) {
					toks = append(toks, value(int(j)))
				}
			}
			return toks, true
		}, release, nil
	}
	if k, err := kindOf(typ, col, arr.DataType(), false); err != nil || k != KindString {
		return nil, nil, fmt.Errorf("%w: %s: column %q has type %s, want strings or lists of strings", ErrInvalidInput, typ, col, arr.DataType())
	}
	value, release := stringValue(arr)
	return func(r int) ([]string, bool) {
		if arr.IsNull(r) {
			return nil, false
		}
		return fn(value(r)), true
	}, release, nil
}

// ---- Tokenizer ----

// Tokenizer replaces each string column, in place, by a list<string> column
// of its tokens (Ray's Tokenizer). The tokenization function is referred
// to by name (DefaultTokenizer unless set; see RegisterTokenizer). It
// learns nothing: Transform needs no Fit. Nulls stay null.
type Tokenizer struct {
	Columns []string `json:"columns"`
	// TokenizationFn names a registered function; empty means
	// DefaultTokenizer.
	TokenizationFn string `json:"tokenization_fn,omitempty"`
}

// NewTokenizer returns a Tokenizer using the default tokenization.
func NewTokenizer(columns ...string) *Tokenizer { return &Tokenizer{Columns: columns} }

// TypeName is "Tokenizer".
func (t *Tokenizer) TypeName() string { return "Tokenizer" }

// Fitted is always true: a Tokenizer learns nothing.
func (t *Tokenizer) Fitted() bool { return true }

func (t *Tokenizer) validate() error {
	if _, err := tokenizer(t.TypeName(), t.TokenizationFn); err != nil {
		return err
	}
	return checkConfig(t.TypeName(), t.Columns)
}

// TransformBatch tokenizes one batch. It does not release batch; the caller
// releases the result.
func (t *Tokenizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	fn, _ := tokenizer(t.TypeName(), t.TokenizationFn)
	idx, err := resolve(batch, t.TypeName(), t.Columns)
	if err != nil {
		return nil, err
	}
	replace := make(map[int]arrow.Array, len(idx))
	for k, i := range idx {
		arr := batch.Column(i)
		if _, isList := arr.(array.ListLike); isList {
			err = fmt.Errorf("%w: %s: column %q has type %s, want strings", ErrInvalidInput, t.TypeName(), t.Columns[k], arr.DataType())
		}
		var toks func(int) ([]string, bool)
		release := func() {}
		if err == nil {
			toks, release, err = tokensOf(t.TypeName(), t.Columns[k], arr, fn)
		}
		if err != nil {
			for _, a := range replace {
				a.Release()
			}
			return nil, err
		}
		b := array.NewListBuilder(memory.DefaultAllocator, arrow.BinaryTypes.String)
		vb := b.ValueBuilder().(*array.StringBuilder)
		for r := 0; r < arr.Len(); r++ {
			ts, ok := toks(r)
			if !ok {
				b.AppendNull()
				continue
			}
			b.Append(true)
			vb.AppendValues(ts, nil)
		}
		release()
		replace[i] = b.NewArray()
		b.Release()
	}
	return assemble(batch, replace, nil, nil), nil
}

// Hash functions of FeatureHasher and HashingVectorizer (their HashFn).
const (
	// HashRay is Ray's simple_hash: the SHA-1 of the text modulo
	// NumFeatures, so bucket indices match Ray's. The default (empty
	// HashFn).
	HashRay = "simple_hash"
	// HashSklearn is scikit-learn's FeatureHasher and HashingVectorizer
	// hash: the signed 32-bit MurmurHash3 (x86_32, seed 0) h of the text's
	// UTF-8 bytes, bucket |h| mod NumFeatures; with AlternateSign, a count
	// is negated when h < 0 (scikit-learn's alternate_sign=True, its
	// default), so that collisions cancel out on average.
	HashSklearn = "murmurhash3"
)

// hashing is the hash configuration shared by FeatureHasher and
// HashingVectorizer.
type hashing struct {
	fn  string
	alt bool
}

func checkHashing(typ, fn string, alt bool) error {
	switch fn {
	case "", HashRay:
		if alt {
			return fmt.Errorf("%w: %s: AlternateSign needs HashFn %q, not %q", ErrInvalidInput, typ, HashSklearn, cmp.Or(fn, HashRay))
		}
	case HashSklearn:
	default:
		return fmt.Errorf("%w: %s: HashFn %q must be %q or %q", ErrInvalidInput, typ, fn, HashRay, HashSklearn)
	}
	return nil
}

// bucket returns the output index of text among n and the sign its counts
// are added with.
func (h hashing) bucket(text string, n int) (int, int) {
	if h.fn != HashSklearn {
		return simpleHash(text, n), 1
	}
	v := int64(int32(murmur3.StringSum32(text)))
	sign := 1
	if h.alt && v < 0 {
		sign = -1
	}
	if v < 0 {
		v = -v // no overflow in int64, also for -2^31
	}
	return int(v % int64(n)), sign
}

// simpleHash is Ray's simple_hash: the SHA-1 of the value's text, read as
// a big-endian integer, modulo n.
func simpleHash(value string, n int) int {
	sum := sha1.Sum([]byte(value))
	m := uint64(n)
	var r uint64
	for _, b := range sum {
		r = (r<<8 | uint64(b)) % m
	}
	return int(r)
}

// ---- FeatureHasher ----

// FeatureHasher applies the hashing trick to columns that hold token
// counts (one numeric column per token, the column's name being the
// token): each column is added into output column hash_<i>, i =
// simple_hash(column name) mod NumFeatures, with Ray's SHA-1 simple_hash so
// indices match Ray's. The input columns are dropped and float64 columns
// hash_0 ... hash_<NumFeatures-1> appended (Ray 2.x names). NaN (and null)
// counts make their row's sum NaN. It learns nothing.
//
// With HashFn = HashSklearn the buckets (and, with AlternateSign, signs)
// are scikit-learn's FeatureHasher(n_features=NumFeatures,
// input_type="dict") given each row as {column name: value}; output
// column hash_<i> is its column i.
type FeatureHasher struct {
	Columns     []string `json:"columns"`
	NumFeatures int      `json:"num_features"`
	// HashFn is HashRay (the default when empty) or HashSklearn.
	HashFn string `json:"hash_fn,omitempty"`
	// AlternateSign (HashSklearn only) adds a value negated when its hash
	// is negative: set it to match scikit-learn's default
	// alternate_sign=True.
	AlternateSign bool `json:"alternate_sign,omitempty"`
}

// NewFeatureHasher returns a FeatureHasher.
func NewFeatureHasher(numFeatures int, columns ...string) *FeatureHasher {
	return &FeatureHasher{Columns: columns, NumFeatures: numFeatures}
}

// TypeName is "FeatureHasher".
func (h *FeatureHasher) TypeName() string { return "FeatureHasher" }

// Fitted is always true: a FeatureHasher learns nothing.
func (h *FeatureHasher) Fitted() bool { return true }

func (h *FeatureHasher) validate() error {
	if h.NumFeatures < 1 {
		return fmt.Errorf("%w: %s: NumFeatures %d must be at least 1", ErrInvalidInput, h.TypeName(), h.NumFeatures)
	}
	if err := checkHashing(h.TypeName(), h.HashFn, h.AlternateSign); err != nil {
		return err
	}
	return checkConfig(h.TypeName(), h.Columns)
}

// TransformBatch hashes one batch. It does not release batch; the caller
// releases the result.
func (h *FeatureHasher) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	idx, err := resolve(batch, h.TypeName(), h.Columns)
	if err != nil {
		return nil, err
	}
	rows := int(batch.NumRows())
	outs := make([][]float64, h.NumFeatures)
	for j := range outs {
		outs[j] = make([]float64, rows)
	}
	drop := make(map[int]bool, len(idx))
	for k, i := range idx {
		vals, err := floats(h.TypeName(), h.Columns[k], batch.Column(i))
		if err != nil {
			return nil, err
		}
		j, sign := hashing{h.HashFn, h.AlternateSign}.bucket(h.Columns[k], h.NumFeatures)
		out := outs[j]
		if sign < 0 {
			for r, v := range vals {
				out[r] -= v
			}
		} else {
			for r, v := range vals {
				out[r] += v
			}
		}
		drop[i] = true
	}
	extra := make([]newCol, h.NumFeatures)
	for j, o := range outs {
		extra[j] = newCol{name: "hash_" + strconv.Itoa(j), arr: float64Array(o, nil)}
	}
	return assemble(batch, nil, drop, extra), nil
}

// ---- HashingVectorizer ----

// HashingVectorizer counts the tokens of each string column into
// NumFeatures buckets chosen by Ray's simple_hash of the token. Each input
// column is dropped and int64 columns hash_<column>_0 ...
// hash_<column>_<NumFeatures-1> appended (Ray 2.x names). A null string
// gives nulls. A list<string> column is taken as already tokenized. It
// learns nothing.
//
// With HashFn = HashSklearn the buckets (and, with AlternateSign, signs)
// are scikit-learn's HashingVectorizer(n_features=NumFeatures, norm=None)
// given the same tokens; output column hash_<column>_<i> is its column i.
// scikit-learn's defaults also lowercase, tokenize by the regular
// expression (?u)\b\w\w+\b and normalise each row to unit l2 norm
// (norm="l2"): register a matching tokenization function, and follow with
// a Normalizer(NormL2, ...) over the output columns, to serve such a model.
type HashingVectorizer struct {
	Columns     []string `json:"columns"`
	NumFeatures int      `json:"num_features"`
	// HashFn is HashRay (the default when empty) or HashSklearn.
	HashFn string `json:"hash_fn,omitempty"`
	// AlternateSign (HashSklearn only) counts a token as -1 when its hash
	// is negative: set it to match scikit-learn's default
	// alternate_sign=True.
	AlternateSign bool `json:"alternate_sign,omitempty"`
	// TokenizationFn names a registered function; empty means
	// DefaultTokenizer.
	TokenizationFn string `json:"tokenization_fn,omitempty"`
}

// NewHashingVectorizer returns a HashingVectorizer with the default
// tokenization.
func NewHashingVectorizer(numFeatures int, columns ...string) *HashingVectorizer {
	return &HashingVectorizer{Columns: columns, NumFeatures: numFeatures}
}

// TypeName is "HashingVectorizer".
func (h *HashingVectorizer) TypeName() string { return "HashingVectorizer" }

// Fitted is always true: a HashingVectorizer learns nothing.
func (h *HashingVectorizer) Fitted() bool { return true }

func (h *HashingVectorizer) validate() error {
	if h.NumFeatures < 1 {
		return fmt.Errorf("%w: %s: NumFeatures %d must be at least 1", ErrInvalidInput, h.TypeName(), h.NumFeatures)
	}
	if _, err := tokenizer(h.TypeName(), h.TokenizationFn); err != nil {
		return err
	}
	if err := checkHashing(h.TypeName(), h.HashFn, h.AlternateSign); err != nil {
		return err
	}
	return checkConfig(h.TypeName(), h.Columns)
}

// TransformBatch vectorizes one batch. It does not release batch; the
// caller releases the result.
func (h *HashingVectorizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	fn, _ := tokenizer(h.TypeName(), h.TokenizationFn)
	idx, err := resolve(batch, h.TypeName(), h.Columns)
	if err != nil {
		return nil, err
	}
	rows := int(batch.NumRows())
	drop := make(map[int]bool, len(idx))
	var extra []newCol
	for k, i := range idx {
		c := h.Columns[k]
		toks, release, err := tokensOf(h.TypeName(), c, batch.Column(i), fn)
		if err != nil {
			releaseCols(extra)
			return nil, err
		}
		backing := make([]int64, rows*h.NumFeatures)
		var valid []bool
		// cache holds each token's bucket, times -1 for a negative sign
		// (bucket+1, so that bucket 0 can be negated).
		cache := map[string]int{}
		hs := hashing{h.HashFn, h.AlternateSign}
		for r := 0; r < rows; r++ {
			ts, ok := toks(r)
			if !ok {
				valid = markNull(valid, rows, r)
				continue
			}
			for _, t := range ts {
				j, seen := cache[t]
				if !seen {
					b, sign := hs.bucket(t, h.NumFeatures)
					j = sign * (b + 1)
					cache[strings.Clone(t)] = j
				}
				if j > 0 {
					backing[(j-1)*rows+r]++
				} else {
					backing[(-j-1)*rows+r]--
				}
			}
		}
		release()
		for j := 0; j < h.NumFeatures; j++ {
			extra = append(extra, newCol{
				name: "hash_" + c + "_" + strconv.Itoa(j),
				arr:  int64Array(backing[j*rows:(j+1)*rows:(j+1)*rows], valid),
			})
		}
		drop[i] = true
	}
	return assemble(batch, nil, drop, extra), nil
}

// markNull marks row r of an n-row validity slice as null, allocating it
// (all valid) on first use.
func markNull(valid []bool, n, r int) []bool {
	if valid == nil {
		valid = make([]bool, n)
		for j := range valid {
			valid[j] = true
		}
	}
	valid[r] = false
	return valid
}

// ---- CountVectorizer ----

// CountVectorizer learns each string column's vocabulary at fit (token
// counts merged across blocks) and replaces the column by one int64 column
// per token, named "<column>_<token>" (Ray 2.x), holding the token's count
// in the row. Tokens are ordered by count, most frequent first (ties by
// token, where Ray keeps first-seen order); MaxFeatures > 0 keeps only the
// most frequent. Tokens not in the vocabulary are ignored; a null string
// gives nulls. A list<string> column is taken as already tokenized.
type CountVectorizer struct {
	Columns []string `json:"columns"`
	// TokenizationFn names a registered function; empty means
	// DefaultTokenizer.
	TokenizationFn string `json:"tokenization_fn,omitempty"`
	// MaxFeatures limits each column's vocabulary; 0 means no limit.
	MaxFeatures int `json:"max_features,omitempty"`
	// Stats holds each column's vocabulary in output order; nil until Fit.
	Stats map[string][]TokenCount `json:"stats,omitempty"`
}

// TokenCount is one vocabulary entry and its count at fit.
type TokenCount struct {
	Token string `json:"token"`
	Count int64  `json:"count"`
}

// NewCountVectorizer returns a CountVectorizer with the default
// tokenization.
func NewCountVectorizer(columns ...string) *CountVectorizer {
	return &CountVectorizer{Columns: columns}
}

// TypeName is "CountVectorizer".
func (v *CountVectorizer) TypeName() string { return "CountVectorizer" }

// Fitted reports whether Stats is set.
func (v *CountVectorizer) Fitted() bool { return v.Stats != nil }

func (v *CountVectorizer) validate() error {
	if v.MaxFeatures < 0 {
		return fmt.Errorf("%w: %s: MaxFeatures %d must not be negative", ErrInvalidInput, v.TypeName(), v.MaxFeatures)
	}
	if _, err := tokenizer(v.TypeName(), v.TokenizationFn); err != nil {
		return err
	}
	if v.Stats != nil {
		if _, err := statsFor(v.TypeName(), v.Columns, v.Stats); err != nil {
			return err
		}
	}
	return checkConfig(v.TypeName(), v.Columns)
}

func (v *CountVectorizer) plan() (*fitPlan, error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	fn, _ := tokenizer(v.TypeName(), v.TokenizationFn)
	typ := v.TypeName()
	return &fitPlan{
		columns: v.Columns,
		block: func(rec arrow.Record) (any, error) {
			out := make([]map[string]int64, len(v.Columns))
			for k, c := range v.Columns {
				arr, _, err := column(rec, typ, c)
				if err != nil {
					return nil, err
				}
				toks, release, err := tokensOf(typ, c, arr, fn)
				if err != nil {
					return nil, err
				}
				m := map[string]int64{}
				for r := 0; r < arr.Len(); r++ {
					ts, _ := toks(r)
					for _, t := range ts {
						if n, ok := m[t]; ok {
							m[t] = n + 1
						} else {
							m[strings.Clone(t)] = 1
						}
					}
				}
				release()
				out[k] = m
			}
			return out, nil
		},
		merge: func(a, b any) any {
			x, y := a.([]map[string]int64), b.([]map[string]int64)
			for k := range x {
				for t, n := range y[k] {
					x[k][t] += n
				}
			}
			return x
		},
		finish: func(total any, _ int64) error {
			ms := total.([]map[string]int64)
			stats := make(map[string][]TokenCount, len(ms))
			for k, m := range ms {
				voc := make([]TokenCount, 0, len(m))
				for t, n := range m {
					voc = append(voc, TokenCount{Token: t, Count: n})
				}
				slices.SortFunc(voc, func(a, b TokenCount) int {
					if a.Count != b.Count {
						return cmp.Compare(b.Count, a.Count)
					}
					return strings.Compare(a.Token, b.Token)
				})
				if v.MaxFeatures > 0 && len(voc) > v.MaxFeatures {
					voc = voc[:v.MaxFeatures]
				}
				if len(voc) == 0 {
					return noValues(typ, v.Columns[k])
				}
				stats[v.Columns[k]] = voc
			}
			v.Stats = stats
			return nil
		},
	}, nil
}

// TransformBatch vectorizes one batch. It does not release batch; the
// caller releases the result.
func (v *CountVectorizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !v.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, v.TypeName())
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	fn, _ := tokenizer(v.TypeName(), v.TokenizationFn)
	idx, err := resolve(batch, v.TypeName(), v.Columns)
	if err != nil {
		return nil, err
	}
	rows := int(batch.NumRows())
	drop := make(map[int]bool, len(idx))
	var extra []newCol
	for k, i := range idx {
		c := v.Columns[k]
		toks, release, err := tokensOf(v.TypeName(), c, batch.Column(i), fn)
		if err != nil {
			releaseCols(extra)
			return nil, err
		}
		voc := v.Stats[c]
		pos := make(map[string]int, len(voc))
		for j, tc := range voc {
			pos[tc.Token] = j
		}
		backing := make([]int64, rows*len(voc))
		var valid []bool
		for r := 0; r < rows; r++ {
			ts, ok := toks(r)
			if !ok {
				valid = markNull(valid, rows, r)
				continue
			}
			for _, t := range ts {
				if j, ok := pos[t]; ok {
					backing[j*rows+r]++
				}
			}
		}
		release()
		for j, tc := range voc {
			extra = append(extra, newCol{
				name: c + "_" + tc.Token,
				arr:  int64Array(backing[j*rows:(j+1)*rows:(j+1)*rows], valid),
			})
		}
		drop[i] = true
	}
	return assemble(batch, nil, drop, extra), nil
}
