package block

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// AggKind is an aggregation function.
type AggKind int

// Aggregations, named as in Ray Data.
const (
	AggCount AggKind = iota
	AggSum
	AggMean
	AggMin
	AggMax
	AggStd
)

func (k AggKind) String() string {
	return [...]string{"count", "sum", "mean", "min", "max", "std"}[k]
}

// Agg is one aggregation: Kind over Column (empty Column with AggCount counts
// rows), written to output column Name.
type Agg struct {
	Kind   AggKind
	Column string
	Name   string
	DDOF   int // for AggStd; 1 (sample) by default in the public API
}

// AggState is the mergeable partial state of one aggregation for one group.
// Fields are exported so that partials can be gob-encoded when spilled.
type AggState struct {
	N      int64   // non-null values seen (rows for a row count)
	Sum    float64 // float sum
	ISum   int64   // integer sum (used when the column is an integer type)
	Min    float64
	Max    float64
	IMin   int64
	IMax   int64
	Mean   float64 // Welford running mean
	M2     float64 // Welford sum of squared deviations
	HasAny bool
}

// Partial holds the partial aggregates of one or more blocks.
type Partial struct {
	KeyNames  []string
	KeyTypes  []arrow.DataType
	Aggs      []Agg
	IsInt     []bool // per agg: column is an integer type
	Keys      [][]any
	States    [][]AggState // [group][agg]
	index     map[string]int
	intIndex  map[int64]int
	mergeIdx  map[string]int
	keyBuf    []byte
	ValueType []arrow.DataType // per agg: input column type (nil for row count)
}

// NewPartial validates keys and aggs against schema and returns an empty
// partial.
func NewPartial(schema *arrow.Schema, keys []string, aggs []Agg) (*Partial, error) {
	p := &Partial{KeyNames: keys, Aggs: aggs, index: map[string]int{}}
	for _, k := range keys {
		idx := schema.FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("unknown group-by column %q (have %v)", k, Names(schema))
		}
		p.KeyTypes = append(p.KeyTypes, schema.Field(idx[0]).Type)
	}
	for _, a := range aggs {
		if a.Column == "" {
			if a.Kind != AggCount {
				return nil, fmt.Errorf("aggregation %s needs a column", a.Kind)
			}
			p.IsInt = append(p.IsInt, true)
			p.ValueType = append(p.ValueType, nil)
			continue
		}
		idx := schema.FieldIndices(a.Column)
		if len(idx) == 0 {
			return nil, fmt.Errorf("unknown aggregation column %q (have %v)", a.Column, Names(schema))
		}
		dt := schema.Field(idx[0]).Type
		if a.Kind != AggCount && !IsNumeric(dt) {
			return nil, fmt.Errorf("%s of column %q: type %s is not numeric", a.Kind, a.Column, dt)
		}
		p.IsInt = append(p.IsInt, isInt(dt))
		p.ValueType = append(p.ValueType, dt)
	}
	return p, nil
}

func isInt(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT64, arrow.INT32, arrow.INT16, arrow.INT8, arrow.UINT32, arrow.UINT16, arrow.UINT8, arrow.BOOL:
		return true
	}
	return false
}

func (p *Partial) encodeKey(cols []arrow.Array, i int) {
	b := p.keyBuf[:0]
	for _, c := range cols {
		if c.IsNull(i) {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		switch a := c.(type) {
		case *array.Int64:
			b = binary.LittleEndian.AppendUint64(b, uint64(a.Value(i)))
		case *array.Float64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Value(i)))
		case *array.String:
			s := a.Value(i)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		default:
			b = appendKeyValue(b[:len(b)-1], Value(c, i))
		}
	}
	p.keyBuf = b
}

// Add folds every row of rec into the partial.
func (p *Partial) Add(rec arrow.Record) error {
	keyCols := make([]arrow.Array, len(p.KeyNames))
	for k, name := range p.KeyNames {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return fmt.Errorf("unknown group-by column %q", name)
		}
		keyCols[k] = rec.Column(idx[0])
	}
	valCols := make([]arrow.Array, len(p.Aggs))
	for a, agg := range p.Aggs {
		if agg.Column == "" {
			continue
		}
		idx := rec.Schema().FieldIndices(agg.Column)
		if len(idx) == 0 {
			return fmt.Errorf("unknown aggregation column %q", agg.Column)
		}
		valCols[a] = rec.Column(idx[0])
	}
	gids := p.groupIDs(keyCols, int(rec.NumRows()))
	for a, col := range valCols {
		kind := p.Aggs[a].Kind
		if col == nil || kind == AggCount {
			for i, g := range gids {
				if col == nil || !col.IsNull(i) {
					p.States[g][a].N++
				}
			}
			continue
		}
		nulls := col.NullN() > 0
		switch c := col.(type) {
		case *array.Float64:
			vals := c.Float64Values()
			if !nulls && (kind == AggSum || kind == AggMean || kind == AggMin || kind == AggMax) {
				addFloats(p.States, gids, vals, a, kind)
				continue
			}
			for i, x := range vals {
				if !nulls || !c.IsNull(i) {
					p.States[gids[i]][a].addKind(kind, x, 0)
				}
			}
		case *array.Int64:
			for i, x := range c.Int64Values() {
				if !nulls || !c.IsNull(i) {
					p.States[gids[i]][a].addKind(kind, float64(x), x)
				}
			}
		default:
			for i, g := range gids {
				if col.IsNull(i) {
					continue
				}
				x, _ := Float(col, i)
				var xi int64
				if p.IsInt[a] {
					xi = intValue(col, i)
				}
				p.States[g][a].addKind(kind, x, xi)
			}
		}
	}
	return nil
}

// addFloats is the hot loop of Add for a null-free float column, with the
// aggregation's switch hoisted out of the loop.
func addFloats(states [][]AggState, gids []int, vals []float64, a int, kind AggKind) {
	for i, x := range vals {
		s := &states[gids[i]][a]
		if !s.HasAny {
			s.Min, s.Max, s.HasAny = x, x, true
		}
		s.N++
		switch kind {
		case AggSum, AggMean:
			s.Sum += x
		case AggMin:
			s.Min = fmin(s.Min, x)
		case AggMax:
			s.Max = fmax(s.Max, x)
		}
	}
}

// fmin and fmax skip NaN (a NaN is kept only while nothing else is seen).
func fmin(a, b float64) float64 {
	if b < a || a != a {
		return b
	}
	return a
}

func fmax(a, b float64) float64 {
	if b > a || a != a {
		return b
	}
	return a
}

// addKind folds a value, updating only what kind needs (merge handles
// untouched fields, which stay zero).
func (s *AggState) addKind(kind AggKind, x float64, xi int64) {
	if !s.HasAny {
		s.Min, s.Max, s.IMin, s.IMax, s.HasAny = x, x, xi, xi, true
	}
	s.N++
	switch kind {
	case AggSum, AggMean:
		s.Sum += x
		s.ISum += xi
	case AggMin:
		s.Min = fmin(s.Min, x)
		s.IMin = min(s.IMin, xi)
	case AggMax:
		s.Max = fmax(s.Max, x)
		s.IMax = max(s.IMax, xi)
	default:
		d := x - s.Mean
		s.Mean += d / float64(s.N)
		s.M2 += d * (x - s.Mean)
	}
}

// groupIDs maps every row to its group, creating groups as needed.
func (p *Partial) groupIDs(keyCols []arrow.Array, n int) []int {
	gids := make([]int, n)
	newGroup := func(i int) int {
		g := len(p.Keys)
		key := make([]any, len(keyCols))
		for k, c := range keyCols {
			key[k] = Value(c, i)
		}
		p.Keys = append(p.Keys, key)
		p.States = append(p.States, make([]AggState, len(p.Aggs)))
		return g
	}
	if p.index == nil {
		p.rebuildIndex()
	}
	if len(keyCols) == 1 {
		switch c := keyCols[0].(type) {
		case *array.Int64:
			if p.intIndex == nil {
				p.intIndex = map[int64]int{}
				for g, key := range p.Keys {
					if v, ok := key[0].(int64); ok {
						p.intIndex[v] = g
					}
				}
			}
			vals := c.Int64Values()
			for i := range gids {
				if c.IsNull(i) {
					gids[i] = p.genericID(keyCols, i, newGroup)
					continue
				}
				g, ok := p.intIndex[vals[i]]
				if !ok {
					g = newGroup(i)
					p.intIndex[vals[i]] = g
					p.encodeKey(keyCols, i)
					p.index[string(p.keyBuf)] = g
				}
				gids[i] = g
			}
			return gids
		}
	}
	for i := range gids {
		gids[i] = p.genericID(keyCols, i, newGroup)
	}
	return gids
}

func (p *Partial) genericID(keyCols []arrow.Array, i int, newGroup func(int) int) int {
	p.encodeKey(keyCols, i)
	g, ok := p.index[string(p.keyBuf)] // no allocation on lookup
	if !ok {
		g = newGroup(i)
		p.index[string(p.keyBuf)] = g
		if p.intIndex != nil {
			if v, isInt := p.Keys[g][0].(int64); isInt && len(keyCols) == 1 {
				p.intIndex[v] = g
			}
		}
	}
	return g
}

func intValue(arr arrow.Array, i int) int64 {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint32:
		return int64(a.Value(i))
	case *array.Uint16:
		return int64(a.Value(i))
	case *array.Uint8:
		return int64(a.Value(i))
	case *array.Boolean:
		if a.Value(i) {
			return 1
		}
	}
	return 0
}

func (s *AggState) merge(o AggState) {
	if !o.HasAny {
		s.N += o.N // row counts carry no values
		return
	}
	if !s.HasAny {
		n := s.N
		*s = o
		s.N += n
		return
	}
	n := s.N + o.N
	d := o.Mean - s.Mean
	s.M2 += o.M2 + d*d*float64(s.N)*float64(o.N)/float64(n)
	s.Mean += d * float64(o.N) / float64(n)
	s.N = n
	s.Sum += o.Sum
	s.ISum += o.ISum
	s.Min, s.Max = fmin(s.Min, o.Min), fmax(s.Max, o.Max)
	s.IMin, s.IMax = min(s.IMin, o.IMin), max(s.IMax, o.IMax)
}

func (p *Partial) rebuildIndex() {
	p.index = make(map[string]int, len(p.Keys))
	p.intIndex = nil
	for g, key := range p.Keys {
		b := p.keyBuf[:0]
		for _, v := range key {
			b = appendKeyValue(b, v)
		}
		p.keyBuf = b
		p.index[string(b)] = g
	}
}

// appendKeyValue encodes a key value as encodeKey does for a column.
func appendKeyValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case int64:
		b = append(b, 1)
		return binary.LittleEndian.AppendUint64(b, uint64(x))
	case float64:
		b = append(b, 1)
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	case string:
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...)
	}
	s := fmt.Sprint(v)
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func encodeValues(b []byte, key []any) []byte {
	for _, v := range key {
		b = appendKeyValue(b, v)
	}
	return b
}

// Empty returns a partial with p's keys and aggregations and no groups.
func (p *Partial) Empty() *Partial {
	return &Partial{KeyNames: p.KeyNames, KeyTypes: p.KeyTypes, Aggs: p.Aggs, IsInt: p.IsInt, ValueType: p.ValueType}
}

// SizeBytes estimates the memory held, for the object store.
func (p *Partial) SizeBytes() int64 {
	return int64(len(p.Keys)) * int64(64+len(p.KeyNames)*24+len(p.Aggs)*80)
}

// Merge folds other into p. Both must come from NewPartial with the same
// keys and aggregations.
func (p *Partial) Merge(o *Partial) {
	if p.mergeIdx == nil {
		p.mergeIdx = make(map[string]int, len(p.Keys))
		for g, key := range p.Keys {
			p.mergeIdx[string(encodeValues(p.keyBuf[:0], key))] = g
		}
	}
	for og, key := range o.Keys {
		p.keyBuf = encodeValues(p.keyBuf[:0], key)
		g, ok := p.mergeIdx[string(p.keyBuf)]
		if !ok {
			g = len(p.Keys)
			p.mergeIdx[string(p.keyBuf)] = g
			p.Keys = append(p.Keys, key)
			p.States = append(p.States, make([]AggState, len(p.Aggs)))
		}
		for a := range p.Aggs {
			p.States[g][a].merge(o.States[og][a])
		}
	}
	p.index, p.intIndex = nil, nil
}

// Finish builds the output record, one row per group sorted by key.
func (p *Partial) Finish(mem memory.Allocator) arrow.Record {
	order := make([]int, len(p.Keys))
	for i := range order {
		order[i] = i
	}
	keys := make([]SortKey, len(p.KeyNames))
	slices.SortStableFunc(order, func(a, b int) int { return CompareKeys(p.Keys[a], p.Keys[b], keys) })

	var fields []arrow.Field
	for k, name := range p.KeyNames {
		fields = append(fields, arrow.Field{Name: name, Type: p.KeyTypes[k], Nullable: true})
	}
	for a, agg := range p.Aggs {
		fields = append(fields, arrow.Field{Name: agg.Name, Type: p.aggType(a), Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for k := range p.KeyNames {
		b := rb.Field(k)
		for _, g := range order {
			appendValue(b, p.Keys[g][k])
		}
	}
	for a, agg := range p.Aggs {
		b := rb.Field(len(p.KeyNames) + a)
		for _, g := range order {
			s := p.States[g][a]
			switch agg.Kind {
			case AggCount:
				b.(*array.Int64Builder).Append(s.N)
			case AggSum:
				if p.IsInt[a] {
					b.(*array.Int64Builder).Append(s.ISum)
				} else {
					b.(*array.Float64Builder).Append(s.Sum)
				}
			case AggMin, AggMax:
				switch {
				case !s.HasAny:
					b.AppendNull()
				case p.IsInt[a] && agg.Kind == AggMin:
					b.(*array.Int64Builder).Append(s.IMin)
				case p.IsInt[a]:
					b.(*array.Int64Builder).Append(s.IMax)
				case agg.Kind == AggMin:
					b.(*array.Float64Builder).Append(s.Min)
				default:
					b.(*array.Float64Builder).Append(s.Max)
				}
			case AggMean:
				if s.N == 0 {
					b.AppendNull()
				} else {
					b.(*array.Float64Builder).Append(s.Sum / float64(s.N))
				}
			case AggStd:
				if s.N-int64(agg.DDOF) <= 0 {
					b.AppendNull()
				} else {
					b.(*array.Float64Builder).Append(math.Sqrt(s.M2 / float64(s.N-int64(agg.DDOF))))
				}
			}
		}
	}
	return rb.NewRecord()
}

func (p *Partial) aggType(a int) arrow.DataType {
	switch p.Aggs[a].Kind {
	case AggCount:
		return arrow.PrimitiveTypes.Int64
	case AggSum, AggMin, AggMax:
		if p.IsInt[a] {
			return arrow.PrimitiveTypes.Int64
		}
	}
	return arrow.PrimitiveTypes.Float64
}

// appendValue appends a plain Go value (as produced by Value) to a builder.
func appendValue(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.Append(v.(int64))
	case *array.Float64Builder:
		bb.Append(v.(float64))
	case *array.StringBuilder:
		bb.Append(v.(string))
	case *array.BooleanBuilder:
		bb.Append(v.(bool))
	case *array.Int32Builder:
		bb.Append(int32(v.(int64)))
	case *array.Int16Builder:
		bb.Append(int16(v.(int64)))
	case *array.Int8Builder:
		bb.Append(int8(v.(int64)))
	case *array.Uint64Builder:
		bb.Append(v.(uint64))
	case *array.Uint32Builder:
		bb.Append(uint32(v.(uint64)))
	case *array.Float32Builder:
		bb.Append(float32(v.(float64)))
	default:
		AppendAny(b, v)
	}
}

// AppendAny appends a Go value of any supported kind to b.
func AppendAny(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.Int64Builder, *array.Float64Builder, *array.StringBuilder, *array.BooleanBuilder:
		appendValue(bb, v)
	case *array.BinaryBuilder:
		bb.Append(v.([]byte))
	case *array.ListBuilder:
		bb.Append(true)
		for _, x := range v.([]any) {
			AppendAny(bb.ValueBuilder(), x)
		}
	default:
		b.AppendNull()
	}
}
