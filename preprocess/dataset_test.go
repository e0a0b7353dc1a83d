package preprocess

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

func TestMain(m *testing.M) {
	code := m.Run()
	core.Shutdown()
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func init() {
	RegisterBatchMapper("test.double_a", func(b arrow.Record) (arrow.Record, error) {
		return mapNumeric(b, "test.double_a", []string{"a"}, func(_ int, in, out []float64) {
			for i, v := range in {
				out[i] = 2 * v
			}
		})
	})
	RegisterTokenizer("test.comma", func(s string) []string { return strings.Split(s, ",") })
}

// mixedData is a 12-row table with a column for every kind of
// preprocessor, as three blocks.
func mixedData() []arrow.Record {
	rec := record(
		floatCol("a", 1, 2, nan, 4, 10, -3, 0.5, 7, 7, -1, 2.5, 3),
		floatCol("b", 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5),
		intCol("c", 0, -2, 4, 4, 7, 1, 3, 3, 9, -5, 0, 2),
		floatCol("p", 0.5, 1.5, 2, 8, 3.25, 1, 4, 6, 0.1, 2, 9, 5),
		strCol("s", "x", "y", nil, "x", "z", "y", "x", "w", "y", "x", nil, "z"),
		strCol("txt", "the cat", "a dog", "the the", nil, "cat", "dog cat", "a", "the end", "end", "x y", "cat cat", "a b"),
		listCol("tags", []string{"p", "q"}, nil, []string{"q"}, []string{}, []string{"r", "p", "p"}, []string{"q"}, []string{"p"}, nil, []string{"r"}, []string{"q", "r"}, []string{}, []string{"p"}),
		floatCol("hello", 1, 0, 2, 0, 1, 1, 0, 0, 3, 1, 0, 1),
		floatCol("world", 0, 1, 1, 0, 2, 0, 0, 1, 0, 0, 1, 0),
		nullFloatCol("allnan", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil),
	)
	defer rec.Release()
	return split(rec, 3)
}

// everyPreprocessor returns a fresh instance of every preprocessor type,
// configured for mixedData.
func everyPreprocessor(t *testing.T) map[string]Preprocessor {
	bm, err := NewBatchMapper("test.double_a")
	if err != nil {
		t.Fatal(err)
	}
	unknownCode := int64(-1)
	ps := map[string]Preprocessor{
		// The scikit-learn options, each through the same checks.
		"OneHotEncoderDropFirst":         &OneHotEncoder{Columns: []string{"s", "c"}, Drop: DropFirst},
		"OneHotEncoderDropIfBinary":      &OneHotEncoder{Columns: []string{"s"}, Drop: DropIfBinary, MaxCategories: map[string]int{"s": 2}},
		"OrdinalEncoderUnknownValue":     &OrdinalEncoder{Columns: []string{"s", "tags"}, HandleUnknown: UnknownUseEncodedValue, UnknownValue: &unknownCode},
		"FeatureHasherSklearn":           &FeatureHasher{Columns: []string{"hello", "world"}, NumFeatures: 4, HashFn: HashSklearn, AlternateSign: true},
		"HashingVectorizerSklearn":       &HashingVectorizer{Columns: []string{"txt"}, NumFeatures: 5, HashFn: HashSklearn, AlternateSign: true},
		"HashingVectorizerSklearnNoSign": &HashingVectorizer{Columns: []string{"txt"}, NumFeatures: 3, HashFn: HashSklearn},
		"SimpleImputerAllMissingDrop":    &SimpleImputer{Columns: []string{"a", "allnan"}, Strategy: ImputeMedian, AllMissing: AllMissingDrop},
		"SimpleImputerAllMissingKeep":    &SimpleImputer{Columns: []string{"allnan", "a"}, Strategy: ImputeMean, AllMissing: AllMissingKeep},

		"StandardScaler":         NewStandardScaler("a", "b", "c"),
		"MinMaxScaler":           NewMinMaxScaler("a", "b", "c"),
		"MaxAbsScaler":           NewMaxAbsScaler("a", "c"),
		"RobustScaler":           NewRobustScaler("a", "c"),
		"Normalizer":             NewNormalizer(NormL1, "a", "c"),
		"PowerTransformer":       NewPowerTransformer(YeoJohnson, "a", "c"),
		"PowerTransformerBoxCox": NewPowerTransformer(BoxCox, "p"),
		"SimpleImputer":          NewSimpleImputer(ImputeMedian, "a"),
		"SimpleImputerStrings":   NewSimpleImputer(ImputeMostFrequent, "s"),
		"Concatenator":           NewConcatenator("a", "c", "p"),
		"BatchMapper":            bm,
		"Categorizer":            NewCategorizer("s", "c"),
		"LabelEncoder":           NewLabelEncoder("s"),
		"OrdinalEncoder":         NewOrdinalEncoder("s", "tags"),
		"OneHotEncoder":          NewOneHotEncoder("s", "c"),
		"MultiHotEncoder":        NewMultiHotEncoder("tags"),
		"Tokenizer":              NewTokenizer("txt"),
		"FeatureHasher":          NewFeatureHasher(4, "hello", "world"),
		"HashingVectorizer":      &HashingVectorizer{Columns: []string{"txt"}, NumFeatures: 5, TokenizationFn: "test.comma"},
		"CountVectorizer":        NewCountVectorizer("txt"),
		"KBinsDiscretizer":       NewKBinsDiscretizer(3, BinsQuantile, "a", "p"),
		"CustomKBinsDiscretizer": NewCustomKBinsDiscretizer([]float64{-10, 0, 5, 10}, "a"),
		"Chain": NewChain(NewSimpleImputer(ImputeMean, "a"), NewStandardScaler("a", "c"),
			NewConcatenator("a", "c")),
	}
	// Every registered type is covered.
	regMu.RLock()
	defer regMu.RUnlock()
	for name := range registry {
		if _, ok := ps[name]; !ok {
			t.Fatalf("no test case for %s", name)
		}
	}
	return ps
}

// collect runs ds and concatenates its output into one record.
func collect(t *testing.T, ctx context.Context, ds *data.Dataset) arrow.Record {
	t.Helper()
	var recs []arrow.Record
	for b, err := range ds.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			t.Fatalf("iterate: %v", err)
		}
		b.Retain()
		recs = append(recs, b)
	}
	if len(recs) == 0 {
		t.Fatal("no batches")
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	cols := make([]arrow.Array, recs[0].NumCols())
	for j := range cols {
		chunks := make([]arrow.Array, len(recs))
		for i, r := range recs {
			chunks[i] = r.Column(j)
		}
		c, err := array.Concatenate(chunks, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		cols[j] = c
		defer c.Release()
	}
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	out := array.NewRecord(recs[0].Schema(), cols, n)
	t.Cleanup(out.Release)
	return out
}

// concat joins records into one.
func concat(t *testing.T, recs []arrow.Record) arrow.Record {
	t.Helper()
	tbl := array.NewTableFromRecords(recs[0].Schema(), recs)
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	for j := range cols {
		c, err := array.Concatenate(tbl.Column(j).Data().Chunks(), memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		cols[j] = c
		defer c.Release()
	}
	out := array.NewRecord(tbl.Schema(), cols, tbl.NumRows())
	t.Cleanup(out.Release)
	return out
}

func assertSameRecord(t *testing.T, what string, got, want arrow.Record) {
	t.Helper()
	if !got.Schema().Equal(want.Schema()) {
		t.Fatalf("%s: schema\n%v\nwant\n%v", what, got.Schema(), want.Schema())
	}
	if !array.RecordApproxEqual(got, want, array.WithNaNsEqual(true), array.WithAbsTolerance(1e-12)) {
		t.Fatalf("%s: records differ\n got %v\nwant %v", what, got, want)
	}
}

func TestEveryPreprocessorOnDatasets(t *testing.T) {
	ctx := testCtx(t)
	blocks := mixedData()
	whole := concat(t, blocks)
	ds := data.FromArrow(blocks...)
	for name, p := range everyPreprocessor(t) {
		t.Run(name, func(t *testing.T) {
			if err := p.Fit(ctx, ds); err != nil {
				t.Fatalf("Fit: %v", err)
			}
			if !p.Fitted() {
				t.Fatal("not Fitted after Fit")
			}
			tds, err := p.Transform(ctx, ds)
			if err != nil {
				t.Fatalf("Transform: %v", err)
			}
			viaDataset := collect(t, ctx, tds)
			// TransformBatch gives the same numbers as Transform.
			viaBatch := mustTransform(t, p, whole)
			assertSameRecord(t, "TransformBatch vs Transform", viaBatch, viaDataset)

			// The fitted state survives a JSON round trip.
			b, err := Marshal(p)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var env struct {
				Type  string          `json:"type"`
				State json.RawMessage `json:"state"`
			}
			if err := json.Unmarshal(b, &env); err != nil || env.Type != p.TypeName() || len(env.State) == 0 {
				t.Fatalf("envelope %s: %v", b, err)
			}
			q, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal: %v\n%s", err, b)
			}
			if !q.Fitted() || q.TypeName() != p.TypeName() {
				t.Fatalf("unmarshalled %s fitted=%v", q.TypeName(), q.Fitted())
			}
			assertSameRecord(t, "after JSON round trip", mustTransform(t, q, whole), viaBatch)
			b2, err := Marshal(q)
			if err != nil || string(b2) != string(b) {
				t.Fatalf("second Marshal differs: %v\n%s\n%s", err, b2, b)
			}
		})
	}
}

func TestFitTransformAndNotFitted(t *testing.T) {
	ctx := testCtx(t)
	ds := data.FromArrow(mixedData()...)
	s := NewStandardScaler("a")
	if _, err := s.Transform(ctx, ds); !errors.Is(err, ErrNotFitted) {
		t.Fatalf("Transform before Fit: %v", err)
	}
	if _, err := s.TransformBatch(mixedData()[0]); !errors.Is(err, ErrNotFitted) {
		t.Fatalf("TransformBatch before Fit: %v", err)
	}
	out, err := s.FitTransform(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	rec := collect(t, ctx, out)
	// Standardised: mean 0 over the non-NaN values.
	var sum float64
	for _, v := range floatsIn(t, rec, "a") {
		if v == v {
			sum += v
		}
	}
	if !closeTo(sum, 0, 1e-12) {
		t.Fatalf("sum of standardised a = %v", sum)
	}
}

func TestChainEqualsStagesOneByOne(t *testing.T) {
	ctx := testCtx(t)
	blocks := mixedData()
	whole := concat(t, blocks)
	ds := data.FromArrow(blocks...)
	stages := func() []Preprocessor {
		return []Preprocessor{NewSimpleImputer(ImputeMean, "a"), NewStandardScaler("a", "c"), NewOneHotEncoder("s")}
	}
	chain := NewChain(stages()...)
	if err := chain.Fit(ctx, ds); err != nil {
		t.Fatal(err)
	}
	chained := collect(t, ctx, must(chain.Transform(ctx, ds)))

	cur := ds
	for _, s := range stages() {
		next, err := s.FitTransform(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
	}
	oneByOne := collect(t, ctx, cur)
	assertSameRecord(t, "chain vs one by one", chained, oneByOne)
	assertSameRecord(t, "chain TransformBatch", mustTransform(t, chain, whole), oneByOne)

	// The imputer ran before the scaler: no NaN is left in a.
	for _, v := range floatsIn(t, chained, "a") {
		if v != v {
			t.Fatal("NaN left in a after imputing")
		}
	}
	b, err := Marshal(chain)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"stages":[{"type":"SimpleImputer"`) {
		t.Errorf("chain JSON does not nest stages: %s", b)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestBadInput(t *testing.T) {
	ctx := testCtx(t)
	ds := data.FromArrow(mixedData()...)
	allNaN := record(floatCol("gone", nan, nan), floatCol("x", 1, 2))
	defer allNaN.Release()
	empty := record(floatCol("a", []float64{}...))
	defer empty.Release()
	tests := []struct {
		name string
		p    Preprocessor
		ds   *data.Dataset
		want []string // substrings of the error
	}{
		{"missing column", NewStandardScaler("a", "nope"), ds, []string{`"nope"`, "not found"}},
		{"string column to a scaler", NewMinMaxScaler("s"), ds, []string{`"s"`, "numeric"}},
		{"string column to a mean imputer", NewSimpleImputer(ImputeMean, "txt"), ds, []string{`"txt"`, "numeric"}},
		{"all-NaN column for a mean imputer", NewSimpleImputer(ImputeMean, "gone"), data.FromArrow(allNaN), []string{`"gone"`, "no values"}},
		{"Box-Cox on non-positive values", NewPowerTransformer(BoxCox, "a"), ds, []string{`"a"`, "positive"}},
		{"empty dataset at fit", NewStandardScaler("a"), data.FromArrow(empty), []string{"empty dataset"}},
		{"no blocks at all", NewOneHotEncoder("a"), data.FromArrow(), []string{"empty dataset"}},
		{"bad parameter", &KBinsDiscretizer{Columns: []string{"a"}, NBins: 1}, ds, []string{"NBins"}},
		{"unknown strategy", NewSimpleImputer("mode", "a"), ds, []string{`"mode"`}},
		{"list column to one-hot", NewOneHotEncoder("tags"), ds, []string{`"tags"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Fit(ctx, tc.ds)
			if err == nil {
				t.Fatal("Fit succeeded")
			}
			t.Log(err)
			if !errors.Is(err, ErrInvalidInput) || !errors.Is(err, core.ErrInvalidInput) {
				t.Errorf("error %v is not ErrInvalidInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if tc.p.Fitted() {
				t.Error("Fitted after a failed Fit")
			}
		})
	}
	// At transform time a missing column names the column too.
	s := NewStandardScaler("a")
	if err := s.Fit(ctx, ds); err != nil {
		t.Fatal(err)
	}
	other := record(floatCol("z", 1))
	defer other.Release()
	if _, err := s.TransformBatch(other); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("TransformBatch without the column: %v", err)
	}
	// Transform is lazy: the same error surfaces when the dataset runs.
	var lazyErr error
	for _, err := range must(s.Transform(ctx, data.FromArrow(other))).IterBatches(ctx) {
		if err != nil {
			lazyErr = err
			break
		}
	}
	if !errors.Is(lazyErr, ErrInvalidInput) || !strings.Contains(lazyErr.Error(), `"a"`) {
		t.Errorf("Transform without the column: %v", lazyErr)
	}
	// Unmarshal of garbage and of unknown types.
	if _, err := Unmarshal([]byte(`{"type":"NoSuch","state":{}}`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := Unmarshal([]byte(`{"type":"BatchMapper","state":{"name":"never.registered"}}`)); !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "never.registered") {
		t.Errorf("unregistered BatchMapper: %v", err)
	}
	if _, err := Unmarshal([]byte(`{"type":"StandardScaler","state":{"columns":["a"],"stats":{}}}`)); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("state without the column: %v", err)
	}
}

// A fitted preprocessor serves batches from many goroutines at once (run
// under -race).
func TestConcurrentTransformBatch(t *testing.T) {
	blocks := mixedData()
	whole := concat(t, blocks)
	p := NewChain(NewOneHotEncoder("s"), NewStandardScaler("a"), NewCategorizer("c"))
	for _, s := range p.Stages {
		mustFit(t, s, blocks...)
	}
	want := mustTransform(t, p, whole)
	errs := make(chan error, 8)
	for range 8 {
		// The Categorizer's output has a dictionary column, whose values
		// array.Dictionary caches on first read: each goroutine compares
		// against its own copy of want.
		want := privateCopy(want)
		defer want.Release()
		go func() {
			for range 20 {
				out, err := p.TransformBatch(whole)
				if err != nil {
					errs <- err
					return
				}
				ok := array.RecordApproxEqual(out, want, array.WithNaNsEqual(true))
				out.Release()
				if !ok {
					errs <- errors.New("concurrent output differs")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentTransformBatchDictionaryInput shares one input batch with
// a dictionary column, never read before, across goroutines: every
// encoder and the imputer must read its values without touching
// array.Dictionary's unsynchronised cache (run under -race).
func TestConcurrentTransformBatchDictionaryInput(t *testing.T) {
	fitRec := record(strCol("d", "x", "y", "x", "z", nil, "y"))
	defer fitRec.Release()
	input := func() arrow.Record {
		return record(dictCol("d", "y", nil, "x", "z", "x", "y", "z", nil))
	}
	unknown := NewOrdinalEncoder("d")
	unknown.HandleUnknown = UnknownError
	cases := map[string]Preprocessor{
		"Categorizer":       NewCategorizer("d"),
		"LabelEncoder":      NewLabelEncoder("d"),
		"OrdinalEncoder":    NewOrdinalEncoder("d"),
		"OneHotEncoder":     NewOneHotEncoder("d"),
		"SimpleImputer":     NewSimpleImputer(ImputeMostFrequent, "d"),
		"UnknownError":      unknown,
		"Tokenizer":         NewTokenizer("d"),
		"HashingVectorizer": NewHashingVectorizer(4, "d"),
		"CountVectorizer":   NewCountVectorizer("d"),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			mustFit(t, p, fitRec)
			ref := input()
			defer ref.Release()
			want := mustTransform(t, p, ref)
			shared := input()
			defer shared.Release()
			errs := make(chan error, 4)
			for range 4 {
				want := privateCopy(want)
				defer want.Release()
				go func() {
					for range 10 {
						out, err := p.TransformBatch(shared)
						if err != nil {
							errs <- err
							return
						}
						ok := array.RecordApproxEqual(out, want, array.WithNaNsEqual(true))
						out.Release()
						if !ok {
							errs <- errors.New("concurrent output differs")
							return
						}
					}
					errs <- nil
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// An unseen value in a dictionary column names the value.
	t.Run("UnseenValue", func(t *testing.T) {
		rec := record(dictCol("d", "x", "w"))
		defer rec.Release()
		_, err := unknown.TransformBatch(rec)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "value w ") || !strings.Contains(err.Error(), "row 1") {
			t.Fatalf("err = %v, want ErrInvalidInput naming \"w\" at row 1", err)
		}
	})
}
