package csvx

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

func parseAll(t *testing.T, mem memory.Allocator, text string, chunk int64) ([]string, []arrow.Record, error) {
	t.Helper()
	buf := []byte(text)
	names, n, lines, err := ParseHeader(buf, Options{File: "t.csv"})
	if err != nil {
		return nil, nil, err
	}
	types := Infer(buf[n:], names, nil, 1000, Options{})
	fields := make([]arrow.Field, len(names))
	for i := range names {
		fields[i] = arrow.Field{Name: names[i], Type: types[i], Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	chunks, err := Plan(bytes.NewReader(buf), int64(n), int64(len(buf)), chunk, 1+lines)
	if err != nil {
		return nil, nil, err
	}
	var recs []arrow.Record
	for _, c := range chunks {
		r, err := ParseChunk(mem, buf[c.Off:c.End], c.Line, schema, Options{File: "t.csv"})
		if err != nil {
			for _, r := range recs {
				r.Release()
			}
			return nil, nil, err
		}
		recs = append(recs, r)
	}
	return names, recs, nil
}

func TestParseTypesNullsQuotes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	text := "a,b,c,d\n1,1.5,x,true\n2,,\"y,\"\"z\"\"\nw\",false\n,3e2,NA,\n"
	names, recs, err := parseAll(t, mem, text, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer recs[0].Release()
	if fmt.Sprint(names) != "[a b c d]" {
		t.Fatal(names)
	}
	r := recs[0]
	if r.NumRows() != 3 {
		t.Fatalf("rows %d", r.NumRows())
	}
	wantTypes := []arrow.Type{arrow.INT64, arrow.FLOAT64, arrow.STRING, arrow.BOOL}
	for i, w := range wantTypes {
		if r.Column(i).DataType().ID() != w {
			t.Fatalf("col %d type %s", i, r.Column(i).DataType())
		}
	}
	if got := r.Column(2).(*array.String).Value(1); got != "y,\"z\"\nw" {
		t.Fatalf("quoted: %q", got)
	}
	if !r.Column(0).IsNull(2) || !r.Column(1).IsNull(1) || !r.Column(2).IsNull(2) || !r.Column(3).IsNull(2) {
		t.Fatal("nulls not detected")
	}
	if r.Column(1).(*array.Float64).Value(2) != 300 {
		t.Fatal("3e2")
	}
}

func TestChunksMatchSingleParse(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var sb strings.Builder
	sb.WriteString("x,s,y\n")
	var xs []float64
	for i := 0; i < 5000; i++ {
		x := rng.Float64()*1000 - 500
		xs = append(xs, x)
		s := "plain"
		if i%7 == 0 {
			s = "\"multi\nline, \"\"q\"\"\""
		}
		fmt.Fprintf(&sb, "%s,%s,%d\r\n", strconv.FormatFloat(x, 'g', -1, 64), s, i)
	}
	for _, chunk := range []int64{100, 4096, 1 << 30} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		_, recs, err := parseAll(t, mem, sb.String(), chunk)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, r := range recs {
			for j := 0; j < int(r.NumRows()); j++ {
				if got := r.Column(0).(*array.Float64).Value(j); got != xs[i] {
					t.Fatalf("chunk %d row %d: %v != %v", chunk, i, got, xs[i])
				}
				if got := r.Column(2).(*array.Int64).Value(j); got != int64(i) {
					t.Fatalf("chunk %d row %d: y=%d", chunk, i, got)
				}
				i++
			}
			r.Release()
		}
		if i != len(xs) {
			t.Fatalf("chunk %d: %d rows", chunk, i)
		}
		mem.AssertSize(t, 0)
	}
}

func TestErrorsNameLineAndColumn(t *testing.T) {
	cases := map[string]struct {
		text string
		want string
	}{
		"ragged short": {"a,b,c\n1,2,3\n4,5\n", `file "t.csv" line 3 column 3 ("c"): ragged row`},
		"ragged long":  {"a,b\n1,2\n\"x\ny\",2\n4,5,6\n", `file "t.csv" line 5 column 3: ragged row`},
		"not a number": {"a,b\n1,2\n3,x\n", `file "t.csv" line 3 column 2 ("b"): cannot parse "x" as int64`},
		"unterminated": {"a\n\"abc\n", `file "t.csv" line 2 column 1: unterminated`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, recs, err := parseAll(t, memory.NewGoAllocator(), c.text, 1<<20)
			if name == "not a number" {
				// Inference sees "x" so the column becomes string; force int via a schema.
				schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "b", Type: arrow.PrimitiveTypes.Int64}}, nil)
				_, err = ParseChunk(memory.NewGoAllocator(), []byte("1,2\n3,x\n"), 2, schema, Options{File: "t.csv"})
				recs = nil
			}
			for _, r := range recs {
				r.Release()
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %s", err, c.want)
			}
		})
	}
}

func TestParseFloatMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	ins := []string{"0", "-0", "1.", ".5", "-.5", "00012.500", "123456789012345", "1234567890123456789", "1e10", "inf", "NaN", "0.1", "9007199254740993"}
	for i := 0; i < 20000; i++ {
		ins = append(ins, strconv.FormatFloat(rng.NormFloat64()*math10(rng.Intn(12)-6), 'f', rng.Intn(10), 64))
	}
	for _, s := range ins {
		want, werr := strconv.ParseFloat(s, 64)
		got, ok := parseFloat([]byte(s))
		if (werr == nil) != ok || (ok && got != want && !(got != got && want != want)) {
			t.Fatalf("%q: got %v,%v want %v,%v", s, got, ok, want, werr)
		}
	}
}

func math10(e int) float64 {
	v := 1.0
	for ; e > 0; e-- {
		v *= 10
	}
	for ; e < 0; e++ {
		v /= 10
	}
	return v
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,b\n\"x\ny\",2\n", "a\n\n\n", "a,b\n1\n", "a,b\r\n1.5,NA\r\n", "\"a\"\"\",b\n\"", "a;b\n1;2", "",
	} {
		f.Add([]byte(s), int64(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk int64) {
		if chunk <= 0 || chunk > 1<<20 {
			chunk = 16
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		_, recs, err := parseAll(t, mem, string(data), chunk)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error without location: %v", err)
			}
			if pe.Line < 1 {
				t.Fatalf("bad line %d", pe.Line)
			}
		}
		for _, r := range recs {
			r.Release()
		}
		mem.AssertSize(t, 0)
	})
}
