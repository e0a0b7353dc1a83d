package core_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/goray/goray/core"
)

type Point struct {
	X, Y float64
	Tag  string
}

type Sample struct {
	Name    string
	When    time.Time
	Values  []float64
	Labels  map[string]int
	Origin  *Point
	Points  []Point
	Raw     []byte
	Skipped func() `cbor:"-"`
}

// List is recursive: the check must not loop on it.
type List struct {
	Val  int
	Next *List
}

type Config struct {
	Name     string
	callback func() //nolint:unused // the field under test
}

type WithChan struct{ C chan int }

type WithUnsafe struct{ P unsafe.Pointer }

type WithIface struct{ R io.Reader }

type Key struct{ A, B int }

type WithStructKey struct{ M map[Key]int }

type BadList struct {
	Next *BadList
	F    func()
}

type inner struct{ Z int }

// Embeds carries an embedded unexported struct whose fields are exported.
type Embeds struct {
	inner
	W int
}

// secretive has an unexported field but a registered codec.
type secretive struct{ n int }

type secretCodec struct{}

func (secretCodec) Encode(w io.Writer, v secretive) error {
	_, err := w.Write([]byte{byte(v.n)})
	return err
}

func (secretCodec) Decode(r io.Reader) (secretive, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return secretive{}, err
	}
	return secretive{n: int(b[0])}, nil
}

func init() { core.RegisterCodec[secretive](secretCodec{}) }

type HoldsSecret struct{ S secretive }

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := core.Encode(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	got, err := core.DecodeAs[T](b)
	if err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return got
}

func TestCodecRoundTrips(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	s := Sample{Name: "s", When: when, Values: []float64{1.5, -2}, Labels: map[string]int{"a": 1},
		Origin: &Point{1, 2, "o"}, Points: []Point{{3, 4, "p"}}, Raw: []byte{0, 1, 255}}
	got := roundTrip(t, s)
	if !got.When.Equal(when) {
		t.Errorf("time: got %v, want %v (nanoseconds must survive)", got.When, when)
	}
	got.When, s.When = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("got %+v, want %+v", got, s)
	}
	l := &List{1, &List{2, &List{3, nil}}}
	if gl := roundTrip(t, l); !reflect.DeepEqual(gl, l) {
		t.Errorf("list: got %+v", gl)
	}
	if g := roundTrip(t, secretive{7}); g.n != 7 {
		t.Errorf("registered codec: got %d", g.n)
	}
	if g := roundTrip(t, Embeds{inner{3}, 4}); g.Z != 3 || g.W != 4 {
		t.Errorf("embedded: got %+v", g)
	}
	if g := roundTrip(t, "héllo\xff"); g != "héllo\xff" {
		t.Errorf("string: got %q", g)
	}
	if g := roundTrip(t, 42); g != 42 {
		t.Errorf("int: got %d", g)
	}
}

func TestCodecKinds(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		want core.CodecKind
	}{
		{reflect.TypeFor[[]byte](), core.CodecRaw},
		{reflect.TypeFor[string](), core.CodecRaw},
		{reflect.TypeFor[*wrapperspb.StringValue](), core.CodecProto},
		{reflect.TypeFor[arrow.Record](), core.CodecArrow},
		{reflect.TypeFor[secretive](), core.CodecRegistered},
		{reflect.TypeFor[Sample](), core.CodecCBOR},
		{reflect.TypeFor[Config](), core.CodecInvalid},
	} {
		if got, _ := core.CodecFor(tc.typ); got != tc.want {
			t.Errorf("%v: codec %v, want %v", tc.typ, got, tc.want)
		}
	}
	// The raw codecs write the bytes themselves.
	if b, _ := core.Encode([]byte("abc")); string(b) != "abc" {
		t.Errorf("[]byte encoded as %q", b)
	}
}

func TestCodecProtoAndArrow(t *testing.T) {
	m := roundTrip(t, wrapperspb.String("hi"))
	if !proto.Equal(m, wrapperspb.String("hi")) {
		t.Errorf("proto: got %v", m)
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	rec := b.NewRecord()
	defer rec.Release()
	got := roundTrip[arrow.Record](t, rec)
	defer got.Release()
	if !array.RecordEqual(got, rec) {
		t.Errorf("arrow: got %v, want %v", got, rec)
	}
}

func TestCheckEncodableNamesThePath(t *testing.T) {
	for name, tc := range map[string]struct {
		typ  reflect.Type
		want string // "" = encodable
	}{
		"func field":        {reflect.TypeFor[Config](), "core_test.Config.callback: unexported field cannot be encoded"},
		"func":              {reflect.TypeFor[func()](), "func(): func cannot be encoded"},
		"chan":              {reflect.TypeFor[WithChan](), "core_test.WithChan.C: chan cannot be encoded"},
		"unsafe pointer":    {reflect.TypeFor[WithUnsafe](), "core_test.WithUnsafe.P: unsafe.Pointer cannot be encoded"},
		"interface field":   {reflect.TypeFor[WithIface](), "core_test.WithIface.R: interface type io.Reader cannot be encoded"},
		"struct map key":    {reflect.TypeFor[WithStructKey](), "core_test.WithStructKey.M: map key type core_test.Key cannot be encoded"},
		"slice of funcs":    {reflect.TypeFor[[]func()](), "[]func()[]: func cannot be encoded"},
		"complex":           {reflect.TypeFor[complex128](), "complex128: complex128 cannot be encoded"},
		"recursive bad":     {reflect.TypeFor[BadList](), "core_test.BadList.F: func cannot be encoded"},
		"recursive ok":      {reflect.TypeFor[List](), ""},
		"sample":            {reflect.TypeFor[Sample](), ""},
		"registered codec":  {reflect.TypeFor[secretive](), ""},
		"registered inside": {reflect.TypeFor[HoldsSecret](), "core_test.HoldsSecret.S: core_test.secretive has a registered codec, which covers it only as a whole value"},
		"time":              {reflect.TypeFor[time.Time](), ""},
		"proto":             {reflect.TypeFor[*wrapperspb.Int64Value](), ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := core.CheckEncodable(tc.typ)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, core.ErrNotEncodable) || !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("got %v, want ErrNotEncodable", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

type PublicFunc struct {
	Name     string
	Callback func()
}

func TestCheckEncodableExportedFunc(t *testing.T) {
	err := core.CheckEncodable(reflect.TypeFor[PublicFunc]())
	if err == nil || !strings.Contains(err.Error(), "core_test.PublicFunc.Callback: func cannot be encoded") {
		t.Fatalf("got %v", err)
	}
}

// Put of a value that a cluster could not copy fails at once, with the
// error the registration check gives (gob used to drop the unexported
// field when the value spilled, and it came back zero).
func TestPutRefusesUnencodable(t *testing.T) {
	ctx := setup(t)
	_, err := core.Put(ctx, Config{Name: "x", callback: func() {}})
	want := core.CheckEncodable(reflect.TypeFor[Config]())
	if !errors.Is(err, core.ErrNotEncodable) || want == nil || err.Error() != want.Error() {
		t.Fatalf("Put: got %v, want %v", err, want)
	}
	var v any = PublicFunc{Name: "y"}
	if _, err := core.Put(ctx, v); !errors.Is(err, core.ErrNotEncodable) {
		t.Fatalf("Put of an any holding a func field: got %v", err)
	}
}

type Big struct {
	ID   int
	Data []float64
	When time.Time
}

// A spilled struct comes back whole.
func TestSpilledStructRoundTrips(t *testing.T) {
	ctx := setup(t, core.WithMemoryBudget(1<<20))
	var refs []core.Ref[Big]
	for i := range 4 {
		v := Big{ID: i, Data: make([]float64, 64<<10), When: time.Unix(int64(i), 5)}
		v.Data[len(v.Data)-1] = float64(i) + 0.5
		r, err := core.Put(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if st := core.ObjectStoreStats(); st.SpillsTotal == 0 {
		t.Fatalf("nothing spilled: %+v", st)
	}
	for i, r := range refs {
		v, err := core.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != i || len(v.Data) != 64<<10 || v.Data[len(v.Data)-1] != float64(i)+0.5 || !v.When.Equal(time.Unix(int64(i), 5)) {
			t.Fatalf("ref %d came back as ID=%d len=%d last=%v when=%v", i, v.ID, len(v.Data), v.Data[len(v.Data)-1], v.When)
		}
	}
}

// Hostile CBOR input fails with an error, not a panic or a huge allocation.
func TestDecodeHostileInput(t *testing.T) {
	deep := bytes.Repeat([]byte{0x81}, 10000) // [[[[...
	for name, tc := range map[string]struct {
		in  []byte
		typ reflect.Type
	}{
		"deep nesting":          {append(deep, 0x01), reflect.TypeFor[any]()},
		"deep nesting typed":    {append(deep, 0x01), reflect.TypeFor[[]any]()},
		"huge array header":     {[]byte{0x9b, 0, 0, 0, 1, 0, 0, 0, 0}, reflect.TypeFor[[]int]()},
		"huge byte string":      {[]byte{0x5b, 0, 0, 1, 0, 0, 0, 0, 0}, reflect.TypeFor[Sample]()},
		"huge map":              {[]byte{0xbb, 0, 0, 0, 1, 0, 0, 0, 0}, reflect.TypeFor[map[string]int]()},
		"unknown field":         {mustEncode(t, map[string]int{"Nope": 1}), reflect.TypeFor[Point]()},
		"wrong type":            {mustEncode(t, "text"), reflect.TypeFor[Point]()},
		"truncated":             {mustEncode(t, Point{1, 2, "abc"})[:5], reflect.TypeFor[Point]()},
		"duplicate key":         {[]byte{0xa2, 0x61, 'X', 0x01, 0x61, 'X', 0x02}, reflect.TypeFor[Point]()},
		"trailing bytes":        {append(mustEncode(t, 1), 0x01), reflect.TypeFor[int]()},
		"proto garbage":         {[]byte{0xff, 0xff, 0xff}, reflect.TypeFor[*wrapperspb.StringValue]()},
		"arrow garbage":         {[]byte("not arrow"), reflect.TypeFor[arrow.Record]()},
		"registered codec EOF":  {nil, reflect.TypeFor[secretive]()},
		"unencodable target":    {mustEncode(t, 1), reflect.TypeFor[Config]()},
		"nested too deep typed": {append(bytes.Repeat([]byte{0xa1, 0x64, 'N', 'e', 'x', 't'}, 100), 0xf6), reflect.TypeFor[*List]()},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := core.Decode(tc.in, tc.typ)
			if err == nil {
				t.Fatalf("decoded %v without error", v)
			}
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
		})
	}
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := core.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecodeSample(f *testing.F) {
	f.Add(mustEncode(f, Sample{Name: "a", Values: []float64{1}, Labels: map[string]int{"x": 1}, Origin: &Point{}}))
	f.Add(mustEncode(f, &List{1, &List{2, nil}}))
	f.Add([]byte{0x9b, 0xff, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := core.Decode(b, reflect.TypeFor[Sample]()); err == nil {
			// What decodes must encode again.
			if _, err := core.Encode(v); err != nil {
				t.Fatalf("decoded %v does not encode: %v", v, err)
			}
		}
		_, _ = core.Decode(b, reflect.TypeFor[*List]())
	})
}
