package csvx

import (
	"bytes"
	"fmt"
	"math/rand"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

func floatCSV(rows, cols int) ([]byte, *arrow.Schema) {
	var b bytes.Buffer
	rng := rand.New(rand.NewSource(1))
	fields := make([]arrow.Field, cols)
	for c := range fields {
		fields[c] = arrow.Field{Name: fmt.Sprintf("c%d", c), Type: arrow.PrimitiveTypes.Float64, Nullable: true}
	}
	buf := make([]byte, 0, 16*cols)
	for r := 0; r < rows; r++ {
		buf = buf[:0]
		for c := 0; c < cols; c++ {
			if c > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, rng.Float64()*100, 'f', 6, 64)
		}
		b.Write(append(buf, '\n'))
	}
	return b.Bytes(), arrow.NewSchema(fields, nil)
}

func BenchmarkParseChunkFloats(b *testing.B) {
	buf, schema := floatCSV(20000, 28)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		rec, err := ParseChunk(memory.DefaultAllocator, buf, 2, schema, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
}

func BenchmarkParseChunkFloatsParallel(b *testing.B) {
	buf, schema := floatCSV(20000, 28)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec, err := ParseChunk(memory.DefaultAllocator, buf, 2, schema, Options{})
			if err != nil {
				b.Error(err)
				return
			}
			rec.Release()
		}
	})
}
