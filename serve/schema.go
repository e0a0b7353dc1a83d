package serve

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/bitutil"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
)

// InputSchema is the input a model expects: its feature names and types,
// as recorded in its checkpoint. Adapters decode requests against it.
type InputSchema struct {
	Features []checkpoint.Feature
	Schema   *arrow.Schema
	index    map[string]int
	// follow[i] is the feature that came after feature i in the last
	// record decoded, follow[len(Features)] the one that came first: the
	// decoder's guess at the next key.
	follow []atomic.Int32
	kinds  []featureKind
	pool   sync.Pool // *columns
}

type kind uint8

const (
	kFloat kind = iota
	kInt
	kUint
	kBool
	kString
)

type featureKind struct {
	kind kind
	dt   arrow.DataType
	bits int // 32 or 64 for floats; 8..64 for ints
}

func (k featureKind) describe() string {
	switch k.kind {
	case kFloat, kInt, kUint:
		if k.kind == kFloat {
			return "a number (" + k.dt.String() + ")"
		}
		return "an integer (" + k.dt.String() + ")"
	case kBool:
		return "a boolean"
	}
	return "a string"
}

// NewInputSchema checks the features' types and builds the schema. Types
// are Arrow type names: float64, float32, int8..int64, uint8..uint64,
// bool, utf8 (or string).
func NewInputSchema(features []checkpoint.Feature) (*InputSchema, error) {
	if len(features) == 0 {
		return nil, fmt.Errorf("%w: the model records no input features", ErrInvalidInput)
	}
	in := &InputSchema{Features: append([]checkpoint.Feature(nil), features...), index: map[string]int{}}
	fields := make([]arrow.Field, len(features))
	for i, f := range features {
		if f.Name == "" {
			return nil, fmt.Errorf("%w: feature %d has no name", ErrInvalidInput, i)
		}
		if _, dup := in.index[f.Name]; dup {
			return nil, fmt.Errorf("%w: feature %q appears twice", ErrInvalidInput, f.Name)
		}
		in.index[f.Name] = i
		var k featureKind
		switch strings.ToLower(f.Type) {
		case "float64", "double":
			k = featureKind{kFloat, arrow.PrimitiveTypes.Float64, 64}
		case "float32", "float":
			k = featureKind{kFloat, arrow.PrimitiveTypes.Float32, 32}
		case "int64":
			k = featureKind{kInt, arrow.PrimitiveTypes.Int64, 64}
		case "int32":
			k = featureKind{kInt, arrow.PrimitiveTypes.Int32, 32}
		case "int16":
			k = featureKind{kInt, arrow.PrimitiveTypes.Int16, 16}
		case "int8":
			k = featureKind{kInt, arrow.PrimitiveTypes.Int8, 8}
		case "uint64":
			k = featureKind{kUint, arrow.PrimitiveTypes.Uint64, 64}
		case "uint32":
			k = featureKind{kUint, arrow.PrimitiveTypes.Uint32, 32}
		case "uint16":
			k = featureKind{kUint, arrow.PrimitiveTypes.Uint16, 16}
		case "uint8":
			k = featureKind{kUint, arrow.PrimitiveTypes.Uint8, 8}
		case "bool", "boolean":
			k = featureKind{kBool, arrow.FixedWidthTypes.Boolean, 1}
		case "utf8", "string":
			k = featureKind{kString, arrow.BinaryTypes.String, 0}
		default:
			return nil, fmt.Errorf("%w: feature %q has type %q, which serving does not support", ErrInvalidInput, f.Name, f.Type)
		}
		in.kinds = append(in.kinds, k)
		fields[i] = arrow.Field{Name: f.Name, Type: k.dt}
	}
	in.Schema = arrow.NewSchema(fields, nil)
	in.follow = make([]atomic.Int32, len(features)+1)
	for i := range features {
		in.follow[i].Store(int32(i + 1))
	}
	in.pool.New = func() any { return in.newColumns() }
	return in, nil
}

// columns accumulates decoded values, one slice per feature; pooled.
type columns struct {
	in    *InputSchema
	f     [][]float64
	i     [][]int64
	u     [][]uint64
	b     [][]bool
	s     [][]string
	nrows int
	seen  []uint32 // per feature: the stamp of the last row that set it
	stamp uint32
}

func (in *InputSchema) newColumns() *columns {
	n := len(in.Features)
	c := &columns{in: in, f: make([][]float64, n), i: make([][]int64, n), u: make([][]uint64, n),
		b: make([][]bool, n), s: make([][]string, n), seen: make([]uint32, n)}
	return c
}

func (in *InputSchema) getColumns() *columns {
	c := in.pool.Get().(*columns)
	for j := range c.f {
		c.f[j], c.i[j], c.u[j], c.b[j] = c.f[j][:0], c.i[j][:0], c.u[j][:0], c.b[j][:0]
		clear(c.s[j])
		c.s[j] = c.s[j][:0]
	}
	c.nrows = 0
	return c
}

func (in *InputSchema) putColumns(c *columns) {
	if c.nrows > 4096 { // don't pin big request buffers
		return
	}
	in.pool.Put(c)
}

// record builds an Arrow record from the decoded columns. The record owns
// fresh memory: it may outlive the pooled columns.
func (c *columns) record() arrow.Record {
	in, n := c.in, c.nrows
	// One allocation for every 8-byte-wide column.
	wide := 0
	for _, k := range in.kinds {
		if (k.kind == kFloat || k.kind == kInt || k.kind == kUint) && k.bits == 64 {
			wide++
		}
	}
	var slab []uint64
	if wide > 0 {
		slab = make([]uint64, wide*n)
	}
	arrs := make([]arrow.Array, len(in.kinds))
	// The buffers' headers in one allocation too: they are plain structs
	// that the arrays point into.
	bufs := make([]memory.Buffer, len(in.kinds))
	ptrs := make([]*memory.Buffer, 2*len(in.kinds))
	for j, k := range in.kinds {
		var buf []byte
		switch {
		case k.kind == kFloat && k.bits == 64:
			s := arrow.Float64Traits.CastFromBytes(arrow.Uint64Traits.CastToBytes(slab[:n:n]))
			slab = slab[n:]
			copy(s, c.f[j])
			buf = arrow.Float64Traits.CastToBytes(s)
		case k.kind == kFloat:
			s := make([]float32, n)
			for r, v := range c.f[j] {
				s[r] = float32(v)
			}
			buf = arrow.Float32Traits.CastToBytes(s)
		case k.kind == kInt && k.bits == 64:
			s := arrow.Int64Traits.CastFromBytes(arrow.Uint64Traits.CastToBytes(slab[:n:n]))
			slab = slab[n:]
			copy(s, c.i[j])
			buf = arrow.Int64Traits.CastToBytes(s)
		case k.kind == kUint && k.bits == 64:
			s := slab[:n:n]
			slab = slab[n:]
			copy(s, c.u[j])
			buf = arrow.Uint64Traits.CastToBytes(s)
		case k.kind == kInt:
			buf = narrowInts(c.i[j], k.bits)
		case k.kind == kUint:
			buf = narrowUints(c.u[j], k.bits)
		case k.kind == kBool:
			buf = make([]byte, bitutil.BytesForBits(int64(n)))
			for r, v := range c.b[j] {
				if v {
					bitutil.SetBit(buf, r)
				}
			}
		case k.kind == kString:
			b := array.NewStringBuilder(memory.DefaultAllocator)
			b.AppendValues(c.s[j], nil)
			arrs[j] = b.NewArray()
			b.Release()
			continue
		}
		bufs[j] = *memory.NewBufferBytes(buf)
		ptrs[2*j+1] = &bufs[j]
		data := array.NewData(k.dt, n, ptrs[2*j:2*j+2:2*j+2], nil, 0, 0)
		arrs[j] = array.MakeFromData(data)
		data.Release()
	}
	rec := array.NewRecord(in.Schema, arrs, int64(n))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

func narrowInts(v []int64, bits int) []byte {
	switch bits {
	case 32:
		s := make([]int32, len(v))
		for i, x := range v {
			s[i] = int32(x)
		}
		return arrow.Int32Traits.CastToBytes(s)
	case 16:
		s := make([]int16, len(v))
		for i, x := range v {
			s[i] = int16(x)
		}
		return arrow.Int16Traits.CastToBytes(s)
	}
	s := make([]int8, len(v))
	for i, x := range v {
		s[i] = int8(x)
	}
	return arrow.Int8Traits.CastToBytes(s)
}

func narrowUints(v []uint64, bits int) []byte {
	switch bits {
	case 32:
		s := make([]uint32, len(v))
		for i, x := range v {
			s[i] = uint32(x)
		}
		return arrow.Uint32Traits.CastToBytes(s)
	case 16:
		s := make([]uint16, len(v))
		for i, x := range v {
			s[i] = uint16(x)
		}
		return arrow.Uint16Traits.CastToBytes(s)
	}
	s := make([]uint8, len(v))
	for i, x := range v {
		s[i] = uint8(x)
	}
	return s
}

// intRange is the range of a signed integer type of the given width.
func intRange(bits int) (int64, int64) {
	if bits >= 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -(1 << (bits - 1)), 1<<(bits-1) - 1
}

func uintMax(bits int) uint64 {
	if bits >= 64 {
		return math.MaxUint64
	}
	return 1<<bits - 1
}
