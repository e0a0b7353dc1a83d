// Package cifar10 reads and writes the CIFAR-10 binary format and makes a
// small learnable synthetic set in the same format.
//
// Format (https://www.cs.toronto.edu/~kriz/cifar.html, "binary version"):
// each file is a sequence of 3073-byte records, one label byte (0–9) then
// 3072 pixel bytes: the red plane, then green, then blue, each 32×32
// row-major. The training set is data_batch_1.bin … data_batch_5.bin (10,000
// records each), the test set test_batch.bin.
//
//	train, test, err := cifar10.ReadDir("cifar-10-batches-bin")
package cifar10

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

const (
	Channels   = 3
	Height     = 32
	Width      = 32
	ImageSize  = Channels * Height * Width // 3072
	RecordSize = 1 + ImageSize             // 3073
	NumClasses = 10
)

// ClassNames are the CIFAR-10 labels in index order.
var ClassNames = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// TrainFiles and TestFile are the file names of the binary distribution.
var (
	TrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	TestFile   = "test_batch.bin"
)

// ErrFormat reports a file that is not in the CIFAR-10 binary format.
var ErrFormat = errors.New("cifar10: bad file")

// Set is a list of images: Pixels holds Len()×3072 bytes (CHW), Labels one
// byte per image.
type Set struct {
	Pixels []uint8
	Labels []uint8
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns image i's 3072 pixel bytes (CHW).
func (s *Set) Image(i int) []uint8 { return s.Pixels[i*ImageSize : (i+1)*ImageSize] }

// Append adds o's images to s.
func (s *Set) Append(o *Set) {
	s.Pixels = append(s.Pixels, o.Pixels...)
	s.Labels = append(s.Labels, o.Labels...)
}

// Float32 returns the pixels as float32 values in [0, 255], CHW per image.
func (s *Set) Float32() []float32 {
	out := make([]float32, len(s.Pixels))
	for i, p := range s.Pixels {
		out[i] = float32(p)
	}
	return out
}

// Decode parses the bytes of one CIFAR-10 binary file; name is used in
// errors, which give the record number.
func Decode(b []byte, name string) (*Set, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s: empty file", ErrFormat, name)
	}
	n := len(b) / RecordSize
	if rest := len(b) % RecordSize; rest != 0 {
		return nil, fmt.Errorf("%w: %s: truncated: record %d has %d of %d bytes (file is %d bytes, not a multiple of %d)",
			ErrFormat, name, n, rest, RecordSize, len(b), RecordSize)
	}
	s := &Set{Pixels: make([]uint8, 0, n*ImageSize), Labels: make([]uint8, n)}
	for i := 0; i < n; i++ {
		rec := b[i*RecordSize : (i+1)*RecordSize]
		if rec[0] >= NumClasses {
			return nil, fmt.Errorf("%w: %s: record %d: label %d outside 0–%d", ErrFormat, name, i, rec[0], NumClasses-1)
		}
		s.Labels[i] = rec[0]
		s.Pixels = append(s.Pixels, rec[1:]...)
	}
	return s, nil
}

// Encode returns s in the binary format.
func Encode(s *Set) []byte {
	b := make([]byte, 0, s.Len()*RecordSize)
	for i := 0; i < s.Len(); i++ {
		b = append(b, s.Labels[i])
		b = append(b, s.Image(i)...)
	}
	return b
}

// ReadFile reads one binary file.
func ReadFile(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(b, path)
}

// WriteFile writes s to path in the binary format.
func WriteFile(path string, s *Set) error { return os.WriteFile(path, Encode(s), 0o644) }

// ReadDir reads the training batches and the test batch of a CIFAR-10
// binary directory.
func ReadDir(dir string) (train, test *Set, err error) {
	train = &Set{}
	for _, f := range TrainFiles {
		s, err := ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, nil, err
		}
		train.Append(s)
	}
	test, err = ReadFile(filepath.Join(dir, TestFile))
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// Synthetic makes n learnable images: each class has its own colour and
// stripe orientation/frequency, drawn with random phase, position jitter,
// contrast and pixel noise, so a small CNN learns it well above chance but
// not instantly.
func Synthetic(n int, seed uint64) *Set {
	rng := rand.New(rand.NewPCG(seed, 0xc1fa))
	s := &Set{Pixels: make([]uint8, n*ImageSize), Labels: make([]uint8, n)}
	for i := 0; i < n; i++ {
		y := rng.IntN(NumClasses)
		s.Labels[i] = uint8(y)
		angle := float64(y%5)*math.Pi/5 + 0.15*rng.NormFloat64()
		freq := 0.35 + 0.25*float64(y/5) + 0.03*rng.NormFloat64()
		phase := rng.Float64() * 2 * math.Pi
		cx, cy := 16+4*rng.NormFloat64(), 16+4*rng.NormFloat64()
		contrast := 40 + 30*rng.Float64()
		img := s.Image(i)
		for c := 0; c < Channels; c++ {
			base := 90 + 60*math.Sin(float64(y*3+c*2)) + 15*rng.NormFloat64()
			for py := 0; py < Height; py++ {
				for px := 0; px < Width; px++ {
					dx, dy := float64(px)-cx, float64(py)-cy
					u := dx*math.Cos(angle) + dy*math.Sin(angle)
					v := base + contrast*math.Sin(freq*u+phase) + 25*rng.NormFloat64()
					img[c*Height*Width+py*Width+px] = uint8(math.Max(0, math.Min(255, v)))
				}
			}
		}
	}
	return s
}

// WriteSyntheticDir writes a synthetic data set in the binary layout of the
// real one: five training files of perFile images and a test file of nTest.
func WriteSyntheticDir(dir string, perFile, nTest int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, f := range TrainFiles {
		if err := WriteFile(filepath.Join(dir, f), Synthetic(perFile, seed+uint64(i))); err != nil {
			return err
		}
	}
	return WriteFile(filepath.Join(dir, TestFile), Synthetic(nTest, seed+100))
}

// Record returns s as an Arrow record with columns "image"
// (fixed_size_list<uint8>[3072], CHW) and "label" (int64). The caller
// releases it.
func (s *Set) Record(mem memory.Allocator) arrow.Record {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	ib := array.NewFixedSizeListBuilder(mem, ImageSize, arrow.PrimitiveTypes.Uint8)
	defer ib.Release()
	vb := ib.ValueBuilder().(*array.Uint8Builder)
	lb := array.NewInt64Builder(mem)
	defer lb.Release()
	for i := 0; i < s.Len(); i++ {
		ib.Append(true)
		vb.AppendValues(s.Image(i), nil)
		lb.Append(int64(s.Labels[i]))
	}
	img, lab := ib.NewArray(), lb.NewArray()
	defer img.Release()
	defer lab.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "image", Type: img.DataType()},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	return array.NewRecord(schema, []arrow.Array{img, lab}, int64(s.Len()))
}

// FromRecord reads a record with the columns of Record back into a Set.
func FromRecord(rec arrow.Record) (*Set, error) {
	col := func(name string) (arrow.Array, error) {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%w: record has no %q column", ErrFormat, name)
		}
		return rec.Column(idx[0]), nil
	}
	ic, err := col("image")
	if err != nil {
		return nil, err
	}
	lc, err := col("label")
	if err != nil {
		return nil, err
	}
	img, ok := ic.(*array.FixedSizeList)
	if !ok || img.DataType().(*arrow.FixedSizeListType).Len() != ImageSize {
		return nil, fmt.Errorf("%w: column \"image\" is %s, want fixed_size_list<uint8>[%d]", ErrFormat, ic.DataType(), ImageSize)
	}
	vals, ok := img.ListValues().(*array.Uint8)
	if !ok {
		return nil, fmt.Errorf("%w: column \"image\" holds %s, want uint8", ErrFormat, img.ListValues().DataType())
	}
	labels, ok := lc.(*array.Int64)
	if !ok {
		return nil, fmt.Errorf("%w: column \"label\" is %s, want int64", ErrFormat, lc.DataType())
	}
	n := int(rec.NumRows())
	off := img.Data().Offset()
	s := &Set{Pixels: append([]uint8(nil), vals.Uint8Values()[off*ImageSize:(off+n)*ImageSize]...), Labels: make([]uint8, n)}
	for i := 0; i < n; i++ {
		l := labels.Value(i)
		if l < 0 || l >= NumClasses {
			return nil, fmt.Errorf("%w: row %d: label %d outside 0–%d", ErrFormat, i, l, NumClasses-1)
		}
		s.Labels[i] = uint8(l)
	}
	return s, nil
}
