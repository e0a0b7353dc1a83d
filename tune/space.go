package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Config is a trial's configuration: the param space with every Domain
// replaced by a sampled value. Nested maps (map[string]any or Config) are
// kept nested; paths like "params/max_depth" address nested keys.
type Config map[string]any

// Lookup returns the value at a slash-separated path ("params/max_depth").
func (c Config) Lookup(path string) (any, bool) {
	var cur any = map[string]any(c)
	for _, k := range strings.Split(path, "/") {
		m, ok := asMap(cur)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Float returns the number at path as a float64; an error names the path
// if it is missing or not a number.
func (c Config) Float(path string) (float64, error) {
	v, ok := c.Lookup(path)
	if !ok {
		return 0, invalid("config has no %q", path)
	}
	f, ok := toFloat(v)
	if !ok {
		return 0, invalid("config %q is %T, not a number", path, v)
	}
	return f, nil
}

// Int returns the integer at path; a float with no fractional part is
// accepted (configs read back from JSON hold float64s).
func (c Config) Int(path string) (int, error) {
	f, err := c.Float(path)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, invalid("config %q is %v, not an integer", path, f)
	}
	return int(f), nil
}

// String returns the string at path.
func (c Config) String(path string) (string, error) {
	v, ok := c.Lookup(path)
	if !ok {
		return "", invalid("config has no %q", path)
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("config %q is %T, not a string", path, v)
	}
	return s, nil
}

// Flatten returns the config's leaves keyed by slash-separated path.
func (c Config) Flatten() map[string]any {
	out := map[string]any{}
	flattenInto(out, "", map[string]any(c))
	return out
}

func flattenInto(out map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "/" + k
		}
		if sub, ok := asMap(v); ok && len(sub) > 0 {
			flattenInto(out, p, sub)
			continue
		}
		out[p] = v
	}
}

// Clone returns a deep copy of the nested maps and slices of c.
func (c Config) Clone() Config {
	if c == nil {
		return nil
	}
	return Config(deepCopy(map[string]any(c)).(map[string]any))
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case Config:
		return deepCopy(map[string]any(x))
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case Config:
		return map[string]any(m), true
	}
	return nil, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// Domain is one dimension of a search space: a distribution (Uniform,
// Choice, ...) or a grid (GridSearch). Build domains with the functions
// below and place them anywhere in a param space, nested maps included.
// A badly specified domain (Uniform(5, 1), an empty Choice) is reported by
// Tuner.Fit as ErrInvalidInput naming its path.
type Domain interface {
	fmt.Stringer
	sample(r *rand.Rand, resolved Config) any
	validate() error
}

type gridDomain struct{ values []any }

// GridSearch makes every value a separate grid point: the tuner runs the
// product of all grid dimensions, each combination NumSamples times.
func GridSearch(values ...any) Domain { return gridDomain{values: values} }

func (d gridDomain) sample(r *rand.Rand, _ Config) any { return d.values[r.IntN(len(d.values))] }
func (d gridDomain) validate() error {
	if len(d.values) == 0 {
		return fmt.Errorf("GridSearch() has no values")
	}
	return nil
}
func (d gridDomain) String() string { return "GridSearch" + fmtValues(d.values) }

type choiceDomain struct{ values []any }

// Choice samples one of values uniformly.
func Choice(values ...any) Domain { return choiceDomain{values: values} }

func (d choiceDomain) sample(r *rand.Rand, _ Config) any {
	return deepCopy(d.values[r.IntN(len(d.values))])
}
func (d choiceDomain) validate() error {
	if len(d.values) == 0 {
		return fmt.Errorf("Choice() has no values")
	}
	return nil
}
func (d choiceDomain) String() string { return "Choice" + fmtValues(d.values) }

func fmtValues(vs []any) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// floatDomain is Uniform, QUniform, LogUniform and QLogUniform.
type floatDomain struct {
	name   string
	lo, hi float64
	q      float64 // 0: not quantized
	log    bool
}

// Uniform samples a float64 uniformly in [lower, upper).
func Uniform(lower, upper float64) Domain { return floatDomain{name: "Uniform", lo: lower, hi: upper} }

// QUniform samples uniformly in [lower, upper] and rounds to a multiple of q.
func QUniform(lower, upper, q float64) Domain {
	return floatDomain{name: "QUniform", lo: lower, hi: upper, q: q}
}

// LogUniform samples a float64 whose logarithm is uniform in
// [log(lower), log(upper)); both bounds must be positive.
func LogUniform(lower, upper float64) Domain {
	return floatDomain{name: "LogUniform", lo: lower, hi: upper, log: true}
}

// QLogUniform samples like LogUniform and rounds to a multiple of q.
func QLogUniform(lower, upper, q float64) Domain {
	return floatDomain{name: "QLogUniform", lo: lower, hi: upper, q: q, log: true}
}

func (d floatDomain) sample(r *rand.Rand, _ Config) any {
	if d.log {
		return d.quantize(math.Exp(math.Log(d.lo) + r.Float64()*(math.Log(d.hi)-math.Log(d.lo))))
	}
	return d.quantize(d.lo + r.Float64()*(d.hi-d.lo))
}

// quantize rounds v to a multiple of q, kept inside [lo, hi].
func (d floatDomain) quantize(v float64) float64 {
	if d.q <= 0 {
		return v
	}
	v = math.Round(v/d.q) * d.q
	for v > d.hi {
		v -= d.q
	}
	for v < d.lo {
		v += d.q
	}
	return v
}

func (d floatDomain) validate() error {
	switch {
	case math.IsNaN(d.lo) || math.IsNaN(d.hi) || math.IsInf(d.lo, 0) || math.IsInf(d.hi, 0):
		return fmt.Errorf("%s: bounds must be finite", d)
	case d.lo >= d.hi:
		return fmt.Errorf("%s: lower bound %v must be less than upper bound %v", d, d.lo, d.hi)
	case d.log && d.lo <= 0:
		return fmt.Errorf("%s: lower bound %v must be positive", d, d.lo)
	case d.q < 0 || math.IsNaN(d.q):
		return fmt.Errorf("%s: q %v must be positive", d, d.q)
	case d.q > 0 && math.Floor(d.hi/d.q)*d.q < d.lo:
		return fmt.Errorf("%s: no multiple of q %v lies in [%v, %v]", d, d.q, d.lo, d.hi)
	}
	return nil
}

func (d floatDomain) String() string {
	if d.q > 0 {
		return fmt.Sprintf("%s(%v, %v, %v)", d.name, d.lo, d.hi, d.q)
	}
	return fmt.Sprintf("%s(%v, %v)", d.name, d.lo, d.hi)
}

// intDomain is RandInt and QRandInt. Values are in [lo, hi) for RandInt
// and in [lo, hi] on multiples of q for QRandInt, as in Ray.
type intDomain struct {
	name   string
	lo, hi int
	q      int // 0: RandInt
}

// RandInt samples an int uniformly in [lower, upper) (upper excluded, as
// in Ray): RandInt(1, 9) gives 1..8.
func RandInt(lower, upper int) Domain { return intDomain{name: "RandInt", lo: lower, hi: upper} }

// QRandInt samples an int uniformly in [lower, upper] (upper included, as in
// Ray) rounded to a multiple of q.
func QRandInt(lower, upper, q int) Domain {
	return intDomain{name: "QRandInt", lo: lower, hi: upper, q: q}
}

// first returns the smallest multiple of q not below lo (QRandInt).
func (d intDomain) first() int {
	return int(math.Ceil(float64(d.lo)/float64(d.q))) * d.q
}

// count returns the number of values the domain holds.
func (d intDomain) count() int {
	if d.q == 0 {
		return d.hi - d.lo
	}
	if d.q <= 0 || d.hi < d.first() {
		return 0
	}
	return (d.hi-d.first())/d.q + 1
}

func (d intDomain) sample(r *rand.Rand, _ Config) any {
	if d.q == 0 {
		return d.lo + r.IntN(d.hi-d.lo)
	}
	return d.first() + r.IntN(d.count())*d.q
}

// clamp rounds a continuous value to the nearest valid int of the domain.
func (d intDomain) clamp(v float64) int {
	if d.q == 0 {
		i := int(math.Floor(v))
		return min(max(i, d.lo), d.hi-1)
	}
	i := int(math.Round(v/float64(d.q))) * d.q
	return min(max(i, d.first()), d.first()+(d.count()-1)*d.q)
}

func (d intDomain) validate() error {
	switch {
	case d.q < 0:
		return fmt.Errorf("%s: q %d must be positive", d, d.q)
	case d.q == 0 && (d.lo >= d.hi || d.hi-d.lo <= 0):
		return fmt.Errorf("%s: lower bound %d must be less than upper bound %d (upper is excluded)", d, d.lo, d.hi)
	case d.q > 0 && d.lo > d.hi:
		return fmt.Errorf("%s: lower bound %d must not exceed upper bound %d", d, d.lo, d.hi)
	case d.q > 0 && d.count() == 0:
		return fmt.Errorf("%s: no multiple of %d lies in [%d, %d]", d, d.q, d.lo, d.hi)
	}
	return nil
}

func (d intDomain) String() string {
	if d.q > 0 {
		return fmt.Sprintf("%s(%d, %d, %d)", d.name, d.lo, d.hi, d.q)
	}
	return fmt.Sprintf("%s(%d, %d)", d.name, d.lo, d.hi)
}

type normalDomain struct{ mean, sd float64 }

// RandN samples a float64 from the normal distribution N(mean, sd²).
func RandN(mean, sd float64) Domain { return normalDomain{mean: mean, sd: sd} }

func (d normalDomain) sample(r *rand.Rand, _ Config) any { return d.mean + d.sd*r.NormFloat64() }
func (d normalDomain) validate() error {
	if !(d.sd > 0) || math.IsInf(d.sd, 0) || math.IsNaN(d.mean) || math.IsInf(d.mean, 0) {
		return fmt.Errorf("%s: sd must be positive and finite, mean finite", d)
	}
	return nil
}
func (d normalDomain) String() string { return fmt.Sprintf("RandN(%v, %v)", d.mean, d.sd) }

type funcDomain struct{ fn func(Config) any }

// SampleFrom computes a value from the rest of the trial's config, after
// every other domain has been sampled (SampleFrom values see those of
// earlier paths in sorted order):
//
//	"batch": tune.SampleFrom(func(c tune.Config) any { lr, _ := c.Float("lr"); return int(1 / lr) })
func SampleFrom(fn func(config Config) any) Domain { return funcDomain{fn: fn} }

func (d funcDomain) sample(_ *rand.Rand, resolved Config) any { return d.fn(resolved) }
func (d funcDomain) validate() error {
	if d.fn == nil {
		return fmt.Errorf("SampleFrom(nil)")
	}
	return nil
}
func (d funcDomain) String() string { return "SampleFrom(func)" }

// spaceLeaf is a domain found in a param space.
type spaceLeaf struct {
	path []string
	d    Domain
}

func (l spaceLeaf) key() string { return strings.Join(l.path, "/") }

// walkSpace lists the domains of a space in sorted path order. Slices are
// walked too; their elements are addressed by index.
func walkSpace(space map[string]any) []spaceLeaf {
	var out []spaceLeaf
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		switch x := v.(type) {
		case Domain:
			out = append(out, spaceLeaf{path: slices.Clone(path), d: x})
		case map[string]any, Config:
			m, _ := asMap(x)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(append(path, k), m[k])
			}
		case []any:
			for i, e := range x {
				walk(append(path, strconv.Itoa(i)), e)
			}
		}
	}
	walk(nil, space)
	return out
}

// validateSpace checks every domain of a param space.
func validateSpace(space map[string]any) error {
	for _, l := range walkSpace(space) {
		if l.d == nil {
			return invalid("param_space %q: nil domain", l.key())
		}
		if err := l.d.validate(); err != nil {
			return invalid("param_space %q: %v", l.key(), err)
		}
	}
	return nil
}

// setPath replaces the value at path inside v (maps and slices), returning
// the possibly new container.
func setPath(v any, path []string, val any) any {
	if len(path) == 0 {
		return val
	}
	switch x := v.(type) {
	case map[string]any:
		x[path[0]] = setPath(x[path[0]], path[1:], val)
		return x
	case Config:
		x[path[0]] = setPath(x[path[0]], path[1:], val)
		return x
	case []any:
		i, _ := strconv.Atoi(path[0])
		x[i] = setPath(x[i], path[1:], val)
		return x
	}
	return v
}

// copySpace deep-copies the containers of a space, keeping domains.
func copySpace(space map[string]any) Config {
	if space == nil {
		return Config{}
	}
	return Config(deepCopy(space).(map[string]any))
}

// resolve samples every non-grid domain of space (a copy with the grid
// values already substituted) in sorted path order, SampleFrom last.
func resolve(space Config, r *rand.Rand) Config {
	leaves := walkSpace(space)
	var deferred []spaceLeaf
	for _, l := range leaves {
		if _, ok := l.d.(funcDomain); ok {
			deferred = append(deferred, l)
			continue
		}
		setPath(map[string]any(space), l.path, l.d.sample(r, space))
	}
	for _, l := range deferred {
		setPath(map[string]any(space), l.path, l.d.sample(r, space))
	}
	return space
}

// gridPoints returns the grid leaves of a space and the number of
// combinations of their values.
func gridPoints(space map[string]any) ([]spaceLeaf, int) {
	var grid []spaceLeaf
	n := 1
	for _, l := range walkSpace(space) {
		if g, ok := l.d.(gridDomain); ok {
			grid = append(grid, l)
			n *= len(g.values)
		}
	}
	return grid, n
}

// gridCombination returns a copy of space with the grid leaves set to the
// i-th combination; the last leaf varies fastest.
func gridCombination(space map[string]any, grid []spaceLeaf, i int) Config {
	c := copySpace(space)
	for j := len(grid) - 1; j >= 0; j-- {
		vals := grid[j].d.(gridDomain).values
		setPath(map[string]any(c), grid[j].path, deepCopy(vals[i%len(vals)]))
		i /= len(vals)
	}
	return c
}
