package preprocess

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/data"
)

// optionsGolden is testdata/sklearn_options.json, written once by
// testdata/gen_sklearn_options.py with scikit-learn 1.2.1.
type optionsGolden struct {
	Categorical struct {
		Columns     []string `json:"columns"`
		Train, Test [][]any
	} `json:"categorical"`
	OneHotFirst    onehotGolden `json:"onehot_first"`
	OneHotIfBinary onehotGolden `json:"onehot_if_binary"`
	OrdinalMinus1  [][]int64    `json:"ordinal_unknown_-1"`
	Ordinal7       [][]int64    `json:"ordinal_unknown_7"`
	Ordinal2Error  string       `json:"ordinal_unknown_2_error"`
	Murmur         struct {
		Tokens []string `json:"tokens"`
		Signed []int64  `json:"signed"`
	} `json:"murmur"`
	FeatureHasher struct {
		Columns       []string    `json:"columns"`
		Rows          [][]float64 `json:"rows"`
		AlternateSign [][]float64 `json:"alternate_sign"`
		Plain         [][]float64 `json:"plain"`
	} `json:"feature_hasher"`
	HashingVectorizer struct {
		Docs          []string  `json:"docs"`
		AlternateSign [][]int64 `json:"alternate_sign"`
		Plain         [][]int64 `json:"plain"`
	} `json:"hashing_vectorizer"`
	LabelInverse struct {
		Codes  []int64  `json:"codes"`
		Labels []string `json:"labels"`
	} `json:"label_inverse"`
	LabelInverseInt struct {
		Codes  []int64 `json:"codes"`
		Labels []int64 `json:"labels"`
	} `json:"label_inverse_int"`
	Imputer map[string]json.RawMessage `json:"imputer"`
}

type onehotGolden struct {
	Names []string  `json:"names"`
	Test  [][]int64 `json:"test"`
}

func loadOptionsGolden(t *testing.T) *optionsGolden {
	t.Helper()
	b, err := os.ReadFile("testdata/sklearn_options.json")
	if err != nil {
		t.Fatal(err)
	}
	var g optionsGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// categoricalRecord builds the golden categorical table: string columns
// and an int64 last column.
func categoricalRecord(names []string, cols [][]any) arrow.Record {
	cs := make([]col, len(names))
	for j, name := range names {
		if j == len(names)-1 {
			v := make([]int64, len(cols[j]))
			for i, x := range cols[j] {
				v[i] = int64(x.(float64))
			}
			cs[j] = intCol(name, v...)
			continue
		}
		cs[j] = strCol(name, cols[j]...)
	}
	return record(cs...)
}

// assertRoundTrip checks that p survives Marshal/Unmarshal and transforms
// rec the same way afterwards.
func assertRoundTrip(t *testing.T, p Preprocessor, rec arrow.Record) Preprocessor {
	t.Helper()
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal: %v\n%s", err, b)
	}
	assertSameRecord(t, "after JSON round trip", mustTransform(t, q, rec), mustTransform(t, p, rec))
	return q
}

func TestOneHotEncoderDropMatchesSklearn(t *testing.T) {
	g := loadOptionsGolden(t)
	train := categoricalRecord(g.Categorical.Columns, g.Categorical.Train)
	defer train.Release()
	test := categoricalRecord(g.Categorical.Columns, g.Categorical.Test)
	defer test.Release()
	for drop, want := range map[string]onehotGolden{DropFirst: g.OneHotFirst, DropIfBinary: g.OneHotIfBinary} {
		t.Run(drop, func(t *testing.T) {
			e := NewOneHotEncoder(g.Categorical.Columns...)
			e.Drop = drop
			mustFit(t, e, split(train, 2)...)
			var names []string
			for _, c := range g.Categorical.Columns {
				names = append(names, e.OutputColumns(c)...)
			}
			if !reflect.DeepEqual(names, want.Names) {
				t.Fatalf("OutputColumns = %v, scikit-learn %v", names, want.Names)
			}
			out := mustTransform(t, e, test)
			if !reflect.DeepEqual(out.Schema().Fields()[0].Name, want.Names[0]) || int(out.NumCols()) != len(want.Names) {
				t.Fatalf("output schema %v, want columns %v", out.Schema(), want.Names)
			}
			for j, name := range want.Names {
				got := int64sIn(t, out, name)
				for r, row := range want.Test {
					if got[r] != row[j] {
						t.Errorf("%s row %d = %d, scikit-learn %d", name, r, got[r], row[j])
					}
				}
			}
			assertRoundTrip(t, e, test)
		})
	}
	e := NewOneHotEncoder("color")
	e.Drop = "last"
	if err := fitRecs(e, train); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "Drop") || !strings.Contains(err.Error(), `"last"`) {
		t.Errorf("bad Drop: %v", err)
	}
}

func TestOrdinalEncoderUnknownValueMatchesSklearn(t *testing.T) {
	g := loadOptionsGolden(t)
	cols := g.Categorical.Columns
	train := categoricalRecord(cols, g.Categorical.Train)
	defer train.Release()
	test := categoricalRecord(cols, g.Categorical.Test)
	defer test.Release()
	for unknown, want := range map[int64][][]int64{-1: g.OrdinalMinus1, 7: g.Ordinal7} {
		t.Run(strconv.FormatInt(unknown, 10), func(t *testing.T) {
			e := NewOrdinalEncoder(cols...)
			e.HandleUnknown = UnknownUseEncodedValue
			e.UnknownValue = &unknown
			mustFit(t, e, train)
			out := mustTransform(t, e, test)
			for j, c := range cols {
				got := int64sIn(t, out, c)
				for r, row := range want {
					if got[r] != row[j] {
						t.Errorf("%s row %d = %d, scikit-learn %d", c, r, got[r], row[j])
					}
				}
			}
			assertRoundTrip(t, e, test)
		})
	}
	// List columns: an unseen element gets the code too; null stays null.
	lists := record(listCol("tags", []string{"b", "a"}, nil, []string{"c"}))
	defer lists.Release()
	e := NewOrdinalEncoder("tags")
	e.HandleUnknown = UnknownUseEncodedValue
	e.UnknownValue = new(int64(-1))
	mustFit(t, e, lists)
	serve := record(listCol("tags", []string{"c", "z"}, nil, []string{}))
	defer serve.Release()
	if s := colOf(t, mustTransform(t, e, serve), "tags").String(); s != "[[2 -1] (null) []]" {
		t.Errorf("tags = %s", s)
	}

	// Bad configurations name the field; a code of a fitted category is
	// rejected at Fit as scikit-learn rejects it.
	bad := []struct {
		name   string
		handle string
		value  *int64
		want   []string
	}{
		{"code of a category", UnknownUseEncodedValue, new(int64(2)), []string{"UnknownValue 2", `"red"`, `"color"`}},
		{"missing value", UnknownUseEncodedValue, nil, []string{"needs UnknownValue"}},
		{"value without the mode", UnknownIgnore, new(int64(-1)), []string{"UnknownValue -1", "HandleUnknown"}},
		{"bad mode", "nan", nil, []string{`HandleUnknown "nan"`, UnknownUseEncodedValue}},
	}
	if !strings.Contains(g.Ordinal2Error, "unknown_value 2") {
		t.Fatalf("golden: scikit-learn accepted unknown_value 2: %q", g.Ordinal2Error)
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			e := NewOrdinalEncoder(cols...)
			e.HandleUnknown, e.UnknownValue = tc.handle, tc.value
			err := fitRecs(e, train)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Fit: %v, want ErrInvalidInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if e.Fitted() {
				t.Error("Fitted after a failed Fit")
			}
		})
	}
	// A checkpoint whose fitted categories cover UnknownValue is refused.
	st := `{"type":"OrdinalEncoder","state":{"columns":["c"],"handle_unknown":"use_encoded_value","unknown_value":0,"stats":{"c":{"kind":"string","values":["a"]}}}}`
	if _, err := Unmarshal([]byte(st)); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "UnknownValue 0") {
		t.Errorf("Unmarshal with UnknownValue 0: %v", err)
	}
}

func TestSklearnMurmurHash(t *testing.T) {
	g := loadOptionsGolden(t)
	h := hashing{fn: HashSklearn, alt: true}
	for i, tok := range g.Murmur.Tokens {
		s := g.Murmur.Signed[i]
		abs := s
		if abs < 0 {
			abs = -abs
		}
		for _, n := range []int{1, 5, 1 << 20, 1<<31 - 1} {
			j, sign := h.bucket(tok, n)
			if j != int(abs%int64(n)) {
				t.Errorf("bucket(%q, %d) = %d, scikit-learn abs(%d) %% %d = %d", tok, n, j, s, n, abs%int64(n))
			}
			if want := map[bool]int{true: -1, false: 1}[s < 0]; sign != want {
				t.Errorf("sign(%q) = %d, scikit-learn hash %d", tok, sign, s)
			}
		}
		if _, sign := (hashing{fn: HashSklearn}).bucket(tok, 7); sign != 1 {
			t.Errorf("sign without AlternateSign = %d", sign)
		}
	}
}

func TestFeatureHasherMatchesSklearn(t *testing.T) {
	g := loadOptionsGolden(t).FeatureHasher
	cols := make([]col, len(g.Columns))
	for j, name := range g.Columns {
		v := make([]float64, len(g.Rows))
		for r, row := range g.Rows {
			v[r] = row[j]
		}
		cols[j] = floatCol(name, v...)
	}
	rec := record(cols...)
	defer rec.Release()
	for alt, want := range map[bool][][]float64{true: g.AlternateSign, false: g.Plain} {
		t.Run("alternate_sign="+strconv.FormatBool(alt), func(t *testing.T) {
			h := NewFeatureHasher(5, g.Columns...)
			h.HashFn, h.AlternateSign = HashSklearn, alt
			out := mustTransform(t, h, rec)
			if out.NumCols() != 5 {
				t.Fatalf("%d columns, want 5", out.NumCols())
			}
			for j := range 5 {
				got := floatsIn(t, out, "hash_"+strconv.Itoa(j))
				for r, row := range want {
					if !closeTo(got[r], row[j], 1e-15) {
						t.Errorf("hash_%d row %d = %v, scikit-learn %v", j, r, got[r], row[j])
					}
				}
			}
			assertRoundTrip(t, h, rec)
		})
	}
}

func TestHashingVectorizerMatchesSklearn(t *testing.T) {
	g := loadOptionsGolden(t).HashingVectorizer
	docs := make([]any, len(g.Docs))
	for i, d := range g.Docs {
		docs[i] = d
	}
	rec := record(strCol("doc", docs...))
	defer rec.Release()
	for alt, want := range map[bool][][]int64{true: g.AlternateSign, false: g.Plain} {
		t.Run("alternate_sign="+strconv.FormatBool(alt), func(t *testing.T) {
			h := NewHashingVectorizer(6, "doc")
			h.HashFn, h.AlternateSign = HashSklearn, alt
			out := mustTransform(t, h, rec)
			for j := range 6 {
				got := int64sIn(t, out, "hash_doc_"+strconv.Itoa(j))
				for r, row := range want {
					if got[r] != row[j] {
						t.Errorf("hash_doc_%d row %d = %d, scikit-learn %d", j, r, got[r], row[j])
					}
				}
			}
			assertRoundTrip(t, h, rec)
		})
	}
}

func TestHashingOptionErrors(t *testing.T) {
	rec := record(strCol("doc", "a b"), floatCol("x", 1))
	defer rec.Release()
	for name, tc := range map[string]struct {
		p    Preprocessor
		want []string
	}{
		"FeatureHasher bad HashFn":        {&FeatureHasher{Columns: []string{"x"}, NumFeatures: 2, HashFn: "md5"}, []string{"HashFn", `"md5"`}},
		"FeatureHasher sign without hash": {&FeatureHasher{Columns: []string{"x"}, NumFeatures: 2, AlternateSign: true}, []string{"AlternateSign", HashSklearn}},
		"HashingVectorizer bad HashFn":    {&HashingVectorizer{Columns: []string{"doc"}, NumFeatures: 2, HashFn: "md5"}, []string{"HashFn", `"md5"`}},
		"HashingVectorizer sign with Ray": {&HashingVectorizer{Columns: []string{"doc"}, NumFeatures: 2, HashFn: HashRay, AlternateSign: true}, []string{"AlternateSign", HashSklearn}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.p.TransformBatch(rec)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestLabelEncoderInverseTransform(t *testing.T) {
	g := loadOptionsGolden(t)
	train := record(strCol("city", "paris", "tokyo", "amsterdam", "paris"))
	defer train.Release()
	e := NewLabelEncoder("city")
	mustFit(t, e, train)
	codes := record(intCol("city", g.LabelInverse.Codes...), floatCol("keep", 1, 2, 3, 4))
	defer codes.Release()
	out, err := e.InverseTransformBatch(codes)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	got := colOf(t, out, "city").(*array.String)
	for r, w := range g.LabelInverse.Labels {
		if got.Value(r) != w {
			t.Errorf("row %d = %q, scikit-learn %q", r, got.Value(r), w)
		}
	}
	if out.Schema().Field(0).Name != "city" || out.Schema().Field(1).Name != "keep" {
		t.Errorf("schema %v: the label column stays in place", out.Schema())
	}
	// Transform then InverseTransform is the identity on seen labels.
	back, err := e.InverseTransformBatch(mustTransform(t, e, train))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Release()
	assertSameRecord(t, "inverse of transform", back, train)

	// Integer labels, float codes (model predictions) and null codes.
	ints := record(intCol("y", 10, -3, 7, 10))
	defer ints.Release()
	ie := NewLabelEncoder("y")
	mustFit(t, ie, ints)
	ic := record(intCol("y", g.LabelInverseInt.Codes...))
	defer ic.Release()
	iout, err := ie.InverseTransformBatch(ic)
	if err != nil {
		t.Fatal(err)
	}
	defer iout.Release()
	if got := int64sIn(t, iout, "y"); !reflect.DeepEqual(got, g.LabelInverseInt.Labels) {
		t.Errorf("int labels = %v, scikit-learn %v", got, g.LabelInverseInt.Labels)
	}
	fc := record(nullFloatCol("y", 2.0, nil, 0.0))
	defer fc.Release()
	fout, err := ie.InverseTransformBatch(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer fout.Release()
	if s := colOf(t, fout, "y").String(); s != "[10 (null) -3]" {
		t.Errorf("float codes = %s", s)
	}

	// Codes that are no label's are errors naming column, row and code.
	for name, tc := range map[string]struct {
		rec  arrow.Record
		want []string
	}{
		"out of range": {record(intCol("city", 0, 3)), []string{`"city"`, "row 1", "code 3"}},
		"negative":     {record(intCol("city", -1)), []string{"row 0", "code -1"}},
		"fraction":     {record(floatCol("city", 1, 0.5)), []string{"row 1", "code 0.5"}},
		"NaN":          {record(floatCol("city", nan)), []string{"row 0", "NaN"}},
		"strings":      {record(strCol("city", "paris")), []string{`"city"`, "integer codes"}},
	} {
		t.Run(name, func(t *testing.T) {
			defer tc.rec.Release()
			_, err := e.InverseTransformBatch(tc.rec)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	if _, err := NewLabelEncoder("y").InverseTransformBatch(ic); !errors.Is(err, ErrNotFitted) {
		t.Errorf("before Fit: %v", err)
	}
}

func TestLabelEncoderInverseTransformDataset(t *testing.T) {
	ctx := testCtx(t)
	blocks := mixedData()
	e := NewLabelEncoder("s")
	if err := e.Fit(ctx, data.FromArrow(blocks...)); err != nil {
		t.Fatal(err)
	}
	enc, err := e.Transform(ctx, data.FromArrow(blocks...))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.InverseTransform(ctx, enc)
	if err != nil {
		t.Fatal(err)
	}
	assertSameRecord(t, "InverseTransform(Transform(ds))", collect(t, ctx, dec), concat(t, blocks))
}

func TestSimpleImputerAllMissingMatchesSklearn(t *testing.T) {
	g := loadOptionsGolden(t).Imputer
	var names []string
	var train, test [][]any
	for key, dst := range map[string]any{"columns": &names, "train": &train, "test": &test} {
		if err := json.Unmarshal(g[key], dst); err != nil {
			t.Fatal(err)
		}
	}
	build := func(cols [][]any) arrow.Record {
		cs := make([]col, len(names))
		for j, name := range names {
			cs[j] = nullFloatCol(name, cols[j]...)
		}
		return record(cs...)
	}
	trainRec, testRec := build(train), build(test)
	defer trainRec.Release()
	defer testRec.Release()
	for _, st := range []string{ImputeMean, ImputeMedian, ImputeMostFrequent} {
		for _, mode := range []string{AllMissingDrop, AllMissingKeep} {
			t.Run(st+"_"+mode, func(t *testing.T) {
				var want [][]float64
				if err := json.Unmarshal(g[st+"_"+mode], &want); err != nil {
					t.Fatal(err)
				}
				s := NewSimpleImputer(st, names...)
				s.AllMissing = mode
				mustFit(t, s, split(trainRec, 2)...)
				out := mustTransform(t, s, testRec)
				kept := names
				if mode == AllMissingDrop {
					kept = []string{"a", "b"}
				}
				if int(out.NumCols()) != len(kept) {
					t.Fatalf("output %v, want columns %v", out.Schema(), kept)
				}
				for j, c := range kept {
					if out.Schema().Field(j).Name != c {
						t.Fatalf("output %v, want columns %v", out.Schema(), kept)
					}
					assertClose(t, c, floatsIn(t, out, c), want[j], 1e-15)
				}
				assertRoundTrip(t, s, testRec)
			})
		}
	}
	// Strings: kept all-missing string columns are filled with "0".
	strs := record(strCol("s", nil, nil), strCol("t", "x", nil))
	defer strs.Release()
	s := NewSimpleImputer(ImputeMostFrequent, "s", "t")
	s.AllMissing = AllMissingKeep
	mustFit(t, s, strs)
	if got := colOf(t, mustTransform(t, s, strs), "s").String(); got != `["0" "0"]` {
		t.Errorf("kept string column = %s", got)
	}
	// The default is still an error naming the column; a bad mode names
	// the field; a dropped column in a checkpoint needs AllMissingDrop.
	d := NewSimpleImputer(ImputeMedian, names...)
	if err := fitRecs(d, trainRec); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"empty"`) {
		t.Errorf("default all-missing: %v", err)
	}
	d.AllMissing = "fill"
	if err := fitRecs(d, trainRec); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `AllMissing "fill"`) {
		t.Errorf("bad AllMissing: %v", err)
	}
	st := `{"type":"SimpleImputer","state":{"columns":["a"],"strategy":"mean","stats":{"a":{"empty":true}}}}`
	if _, err := Unmarshal([]byte(st)); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "AllMissing") {
		t.Errorf("empty fill without AllMissingDrop: %v", err)
	}
	st = `{"type":"SimpleImputer","state":{"columns":["a"],"strategy":"mean","all_missing":"drop","stats":{"a":{"empty":true,"number":1}}}}`
	if _, err := Unmarshal([]byte(st)); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("fill with both number and empty: %v", err)
	}
}
