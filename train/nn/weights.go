package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// ErrCorruptWeights reports a weight file that does not follow the format in
// the package documentation (bad magic, truncated, checksum mismatch).
var ErrCorruptWeights = errors.New("nn: corrupt weight file")

var weightsMagic = [8]byte{'G', 'O', 'R', 'A', 'Y', 'N', 'N', 0}

const weightsVersion = 1

// Dtype codes of the weight file format.
const (
	dtypeFloat32 = 1
	dtypeFloat64 = 2
)

// NamedTensor is one entry of a weight file.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float64
}

// EncodeTensors writes tensors in the weight file format (see the package
// documentation), storing values as float64 when f64 is true and float32
// otherwise.
func EncodeTensors(w io.Writer, tensors []NamedTensor, f64 bool) error {
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.Write(weightsMagic[:])
	buf.Write(le.AppendUint32(nil, weightsVersion))
	buf.Write(le.AppendUint32(nil, uint32(len(tensors))))
	for _, t := range tensors {
		if len(t.Name) > math.MaxUint16 || len(t.Shape) > math.MaxUint8 {
			return fmt.Errorf("nn: tensor %q: name or rank too large for the weight format", t.Name)
		}
		if prod(t.Shape) != len(t.Data) {
			return fmt.Errorf("nn: tensor %q: shape %v holds %d values, data has %d", t.Name, t.Shape, prod(t.Shape), len(t.Data))
		}
		buf.Write(le.AppendUint16(nil, uint16(len(t.Name))))
		buf.WriteString(t.Name)
		dt := byte(dtypeFloat32)
		if f64 {
			dt = dtypeFloat64
		}
		buf.WriteByte(dt)
		buf.WriteByte(byte(len(t.Shape)))
		for _, d := range t.Shape {
			buf.Write(le.AppendUint32(nil, uint32(d)))
		}
		b := buf.AvailableBuffer()
		for _, v := range t.Data {
			if f64 {
				b = le.AppendUint64(b, math.Float64bits(v))
			} else {
				b = le.AppendUint32(b, math.Float32bits(float32(v)))
			}
		}
		buf.Write(b)
	}
	buf.Write(le.AppendUint32(nil, crc32.ChecksumIEEE(buf.Bytes())))
	_, err := w.Write(buf.Bytes())
	return err
}

// DecodeTensors reads a weight file. name is used in error messages.
func DecodeTensors(b []byte, name string) ([]NamedTensor, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorruptWeights, name, fmt.Sprintf(format, args...))
	}
	if len(b) < 20 || !bytes.Equal(b[:8], weightsMagic[:]) {
		return nil, bad("not a goray nn weight file (bad magic or too short)")
	}
	le := binary.LittleEndian
	body, sum := b[:len(b)-4], le.Uint32(b[len(b)-4:])
	if v := le.Uint32(b[8:]); v > weightsVersion {
		return nil, bad("format version %d is newer than this reader (%d)", v, weightsVersion)
	}
	if crc32.ChecksumIEEE(body) != sum {
		return nil, bad("checksum mismatch (file truncated or damaged)")
	}
	n := le.Uint32(b[12:])
	p := body[16:]
	need := func(k int, what string) ([]byte, error) {
		if len(p) < k {
			return nil, bad("truncated in %s", what)
		}
		out := p[:k]
		p = p[k:]
		return out, nil
	}
	var ts []NamedTensor
	for i := uint32(0); i < n; i++ {
		h, err := need(2, fmt.Sprintf("tensor %d header", i))
		if err != nil {
			return nil, err
		}
		nm, err := need(int(le.Uint16(h)), fmt.Sprintf("tensor %d name", i))
		if err != nil {
			return nil, err
		}
		t := NamedTensor{Name: string(nm)}
		h, err = need(2, fmt.Sprintf("tensor %q header", t.Name))
		if err != nil {
			return nil, err
		}
		dt, rank := h[0], int(h[1])
		if dt != dtypeFloat32 && dt != dtypeFloat64 {
			return nil, bad("tensor %q: unknown dtype code %d", t.Name, dt)
		}
		dims, err := need(4*rank, fmt.Sprintf("tensor %q shape", t.Name))
		if err != nil {
			return nil, err
		}
		size := 1
		for j := 0; j < rank; j++ {
			d := int(le.Uint32(dims[4*j:]))
			t.Shape = append(t.Shape, d)
			size *= d
			if size > len(b) {
				return nil, bad("tensor %q: shape %v larger than the file", t.Name, t.Shape)
			}
		}
		width := 4
		if dt == dtypeFloat64 {
			width = 8
		}
		data, err := need(size*width, fmt.Sprintf("tensor %q data", t.Name))
		if err != nil {
			return nil, err
		}
		t.Data = make([]float64, size)
		for j := range t.Data {
			if dt == dtypeFloat64 {
				t.Data[j] = math.Float64frombits(le.Uint64(data[8*j:]))
			} else {
				t.Data[j] = float64(math.Float32frombits(le.Uint32(data[4*j:])))
			}
		}
		ts = append(ts, t)
	}
	if len(p) != 0 {
		return nil, bad("%d unexpected bytes after the last tensor", len(p))
	}
	return ts, nil
}

// MarshalWeights encodes the model's parameters and state as float64 in the
// weight file format.
func (m *Model) MarshalWeights() []byte {
	var buf bytes.Buffer
	ts := make([]NamedTensor, len(m.infos))
	for i, p := range m.infos {
		ts[i] = NamedTensor{Name: p.Name, Shape: p.Shape, Data: m.tensor(i)}
	}
	if err := EncodeTensors(&buf, ts, true); err != nil {
		panic(err) // names and shapes come from a validated spec
	}
	return buf.Bytes()
}

// UnmarshalWeights loads weights written by MarshalWeights (or any weight file
// with the same tensor names and shapes, float32 or float64). A file for
// another architecture fails with ErrArchitectureMismatch naming the first
// tensor that differs.
func (m *Model) UnmarshalWeights(b []byte, name string) error {
	ts, err := DecodeTensors(b, name)
	if err != nil {
		return err
	}
	if len(ts) != len(m.infos) {
		return fmt.Errorf("%w: %s has %d tensors, the model has %d", ErrArchitectureMismatch, name, len(ts), len(m.infos))
	}
	for i, p := range m.infos {
		t := ts[i]
		if t.Name != p.Name || !equalInts(t.Shape, p.Shape) {
			return fmt.Errorf("%w: %s tensor %d is %q %v, the model expects %q %v", ErrArchitectureMismatch, name, i, t.Name, t.Shape, p.Name, p.Shape)
		}
	}
	for i := range m.infos {
		copy(m.tensor(i), ts[i].Data)
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
