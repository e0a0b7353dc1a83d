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
	return parseAllOpts(t, mem, text, chunk, Options{File: "t.csv"})
}

func parseAllOpts(t *testing.T, mem memory.Allocator, text string, chunk int64, opts Options) ([]string, []arrow.Record, error) {
	t.Helper()
	buf := []byte(text)
	names, n, lines, err := ParseHeader(buf, opts, true)
	if err != nil {
		return nil, nil, err
	}
	types := Infer(buf[n:], names, nil, 1000, opts)
	fields := make([]arrow.Field, len(names))
	for i := range names {
		fields[i] = arrow.Field{Name: names[i], Type: types[i], Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	chunks, err := Plan(bytes.NewReader(buf), int64(n), int64(len(buf)), chunk, 1+lines, opts)
	if err != nil {
		return nil, nil, err
	}
	var recs []arrow.Record
	for _, c := range chunks {
		r, err := ParseChunk(mem, buf[c.Off:c.End], c.Line, schema, opts)
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
		"ragged short":                  {"a,b,c\n1,2,3\n4,5\n", `file "t.csv" line 3 column 3 ("c"): ragged row`},
		"ragged long":                   {"a,b\n1,2\n\"x\ny\",2\n4,5,6\n", `file "t.csv" line 5 column 3: ragged row`},
		"not a number":                  {"a,b\n1,2\n3,x\n", `file "t.csv" line 3 column 2 ("b"): cannot parse "x" as int64`},
		"unterminated":                  {"a\n\"abc\n", `file "t.csv" line 2 column 1: unterminated`},
		"bare quote":                    {"a,b\n1,2\n3,x\"y\n", `file "t.csv" line 3 column 2: bare " in an unquoted field`},
		"bare quote after quoted lines": {"a,b\n\"p\nq\",2\n3,4\"\n", `file "t.csv" line 4 column 2: bare "`},
		"invalid utf8":                  {"a,b\nx,1\ny\xff,2\n", `file "t.csv" line 3 column 1 ("a"): invalid UTF-8`},
		"nul byte":                      {"a,b\nx,1\n\"q\nr\",2,\x00\n", `file "t.csv" line 4 column 3: NUL byte`},
		"nul in header":                 {"a,\x00b\n1,2\n", `file "t.csv" line 1 column 2: NUL byte`},
		"utf8 header":                   {"a,\xffb\n1,2\n", `file "t.csv" line 1 column 2: column name "\xffb" is not valid UTF-8`},
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
		"a,b\n1,x\"y\n", "a\nx\xff\n", "a\n1\x002\n", "PAR1\x15\x04\x00\x00", "a,b\n\"p\nq\",x\"\n",
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
		// Chunking never changes what lazy quoting reads.
		opts := Options{File: "t.csv", LazyQuotes: true}
		_, one, err1 := parseAllOpts(t, mem, string(data), 1<<30, opts)
		_, many, err2 := parseAllOpts(t, mem, string(data), chunk, opts)
		rows := func(rs []arrow.Record) (n int64) {
			for _, r := range rs {
				n += r.NumRows()
				r.Release()
			}
			return n
		}
		if n1, n2 := rows(one), rows(many); (err1 == nil) != (err2 == nil) || n1 != n2 {
			t.Fatalf("one chunk: %d rows, %v; chunks of %d: %d rows, %v", n1, err1, chunk, n2, err2)
		}
		mem.AssertSize(t, 0)
	})
}

// TestLazyQuotes: with LazyQuotes a quote inside an unquoted field is kept,
// and Plan follows quoting like the tokenizer, so chunked reads give the
// same rows as one read even though the quotes are unbalanced.
func TestLazyQuotes(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("id,s\n")
	for i := range 2000 {
		// A bare quote leaves an odd number of quotes before the quoted
		// fields with newlines that follow.
		s := []string{"\"q,\n\"\"z\"\"\"", `5" disk`, "plain"}[i%3]
		fmt.Fprintf(&sb, "%d,%s\n", i, s)
	}
	for _, chunk := range []int64{50, 4096, 1 << 30} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		_, recs, err := parseAllOpts(t, mem, sb.String(), chunk, Options{File: "t.csv", LazyQuotes: true})
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		i := 0
		for _, r := range recs {
			for j := 0; j < int(r.NumRows()); j++ {
				want := []string{"q,\n\"z\"", `5" disk`, "plain"}[i%3]
				if id, s := r.Column(0).(*array.Int64).Value(j), r.Column(1).(*array.String).Value(j); id != int64(i) || s != want {
					t.Fatalf("chunk %d row %d: %d %q", chunk, i, id, s)
				}
				i++
			}
			r.Release()
		}
		if i != 2000 {
			t.Fatalf("chunk %d: %d rows", chunk, i)
		}
		mem.AssertSize(t, 0)
		// Without LazyQuotes the same text is an error on the first bare
		// quote, whatever the chunking.
		_, recs, err = parseAll(t, mem, sb.String(), chunk)
		for _, r := range recs {
			r.Release()
		}
		if err == nil || !strings.Contains(err.Error(), `line 4 column 2: bare "`) {
			t.Fatalf("chunk %d strict: %v", chunk, err)
		}
	}
}

// TestParseHeaderIncomplete: a header cut by the buffer asks for more
// instead of returning the part it saw.
func TestParseHeaderIncomplete(t *testing.T) {
	for _, buf := range []string{"a,b,c", "a,\"b\nx", "", "a,b\r"} {
		if _, _, _, err := ParseHeader([]byte(buf), Options{}, false); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("%q: %v", buf, err)
		}
	}
	names, n, _, err := ParseHeader([]byte("a,b,c"), Options{}, true)
	if err != nil || len(names) != 3 || n != 5 {
		t.Fatal(names, n, err)
	}
	if _, _, _, err := ParseHeader([]byte("a,a\n1"), Options{}, false); errors.Is(err, ErrIncomplete) || err == nil {
		t.Fatalf("complete header with a bad name: %v", err)
	}
}
