package preprocess

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// DefaultConcatOutput is the Concatenator's default output column (Ray's).
const DefaultConcatOutput = "concat_out"

// Concatenator packs numeric columns into one fixed-size list column, the
// feature vector a model reads: row r of the output holds the row's values
// in column order, a fixed-size list column contributing all its elements.
// The output is float64 (or float32 with DType "float32"), named
// OutputColumnName ("concat_out" by default, as in Ray), appended after the
// remaining columns; the input columns are dropped (Ray). Nulls become NaN.
// It learns nothing.
type Concatenator struct {
	Columns []string `json:"columns"`
	// OutputColumnName defaults to DefaultConcatOutput.
	OutputColumnName string `json:"output_column_name,omitempty"`
	// DType is "float64" (default when empty) or "float32".
	DType string `json:"dtype,omitempty"`
}

// NewConcatenator returns a Concatenator writing "concat_out".
func NewConcatenator(columns ...string) *Concatenator {
	return &Concatenator{Columns: columns}
}

// TypeName is "Concatenator".
func (c *Concatenator) TypeName() string { return "Concatenator" }

// Fitted is always true: a Concatenator learns nothing.
func (c *Concatenator) Fitted() bool { return true }

func (c *Concatenator) output() string {
	if c.OutputColumnName == "" {
		return DefaultConcatOutput
	}
	return c.OutputColumnName
}

func (c *Concatenator) validate() error {
	switch c.DType {
	case "", "float64", "float32":
	default:
		return fmt.Errorf("%w: %s: DType %q must be \"float64\" or \"float32\"", ErrInvalidInput, c.TypeName(), c.DType)
	}
	return checkConfig(c.TypeName(), c.Columns)
}

// TransformBatch concatenates one batch. It does not release batch; the
// caller releases the result.
func (c *Concatenator) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	idx, err := resolve(batch, c.TypeName(), c.Columns)
	if err != nil {
		return nil, err
	}
	rows := int(batch.NumRows())
	type part struct {
		vals  []float64
		width int
	}
	parts := make([]part, len(idx))
	width := 0
	for k, i := range idx {
		arr := batch.Column(i)
		if l, ok := arr.(*array.FixedSizeList); ok {
			w := int(l.DataType().(*arrow.FixedSizeListType).Len())
			start, _ := l.ValueOffsets(0)
			child := array.NewSlice(l.ListValues(), start, start+int64(rows*w))
			vals, err := floats(c.TypeName(), c.Columns[k], child)
			child.Release()
			if err != nil {
				return nil, fmt.Errorf("%w: %s: column %q has type %s, want numbers or fixed-size lists of numbers", ErrInvalidInput, c.TypeName(), c.Columns[k], arr.DataType())
			}
			if l.NullN() > 0 {
				vals = append([]float64(nil), vals...)
				for r := 0; r < rows; r++ {
					if l.IsNull(r) {
						for j := 0; j < w; j++ {
							vals[r*w+j] = math.NaN()
						}
					}
				}
			}
			parts[k] = part{vals, w}
			width += w
			continue
		}
		vals, err := floats(c.TypeName(), c.Columns[k], arr)
		if err != nil {
			return nil, err
		}
		parts[k] = part{vals, 1}
		width++
	}
	var values arrow.Array
	if c.DType == "float32" {
		out := make([]float32, rows*width)
		off := 0
		for _, p := range parts {
			for r := 0; r < rows; r++ {
				for j := 0; j < p.width; j++ {
					out[r*width+off+j] = float32(p.vals[r*p.width+j])
				}
			}
			off += p.width
		}
		b := array.NewFloat32Builder(memory.DefaultAllocator)
		b.AppendValues(out, nil)
		values = b.NewArray()
		b.Release()
	} else {
		out := make([]float64, rows*width)
		off := 0
		for _, p := range parts {
			if p.width == 1 {
				for r, v := range p.vals {
					out[r*width+off] = v
				}
			} else {
				for r := 0; r < rows; r++ {
					copy(out[r*width+off:r*width+off+p.width], p.vals[r*p.width:(r+1)*p.width])
				}
			}
			off += p.width
		}
		values = float64Array(out, nil)
	}
	drop := make(map[int]bool, len(idx))
	for _, i := range idx {
		drop[i] = true
	}
	out := fixedSizeList(values, rows, width, nil)
	return assemble(batch, nil, drop, []newCol{{name: c.output(), arr: out}}), nil
}
