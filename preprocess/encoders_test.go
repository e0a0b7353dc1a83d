package preprocess

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

func TestOneHotEncoder(t *testing.T) {
	train := record(strCol("color", "red", "green", nil, "red", "blue"), intCol("n", 3, 1, 3, 2, 1))
	defer train.Release()
	e := NewOneHotEncoder("color", "n")
	mustFit(t, e, split(train, 2)...)
	// Categories sorted: blue, green, red; 1, 2, 3.
	if got := e.OutputColumns("color"); !reflect.DeepEqual(got, []string{"color_blue", "color_green", "color_red"}) {
		t.Fatalf("OutputColumns = %v", got)
	}
	serve := record(strCol("color", "green", "purple", nil), intCol("n", 2, 9, 3), floatCol("keep", 1, 2, 3))
	defer serve.Release()
	out := mustTransform(t, e, serve)
	var names []string
	for _, f := range out.Schema().Fields() {
		names = append(names, f.Name)
	}
	want := []string{"keep", "color_blue", "color_green", "color_red", "n_1", "n_2", "n_3"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("columns = %v, want %v", names, want)
	}
	// purple (unseen) and null are all zeros; 9 (unseen int) too.
	for name, w := range map[string][]int64{
		"color_blue": {0, 0, 0}, "color_green": {1, 0, 0}, "color_red": {0, 0, 0},
		"n_1": {0, 0, 0}, "n_2": {1, 0, 0}, "n_3": {0, 0, 1},
	} {
		if got := int64sIn(t, out, name); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}

	e.HandleUnknown = UnknownError
	_, err := e.TransformBatch(serve)
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"color"`) || !strings.Contains(err.Error(), "purple") {
		t.Fatalf("unseen with UnknownError: %v", err)
	}
}

func TestOneHotEncoderNamesAndMaxCategories(t *testing.T) {
	rec := record(floatCol("f", 1, 0.5, 1, 1e-5), boolCol("b", true, false, true, true), strCol("s", "a", "b", "b", "c"))
	defer rec.Release()
	e := NewOneHotEncoder("f", "b", "s")
	e.MaxCategories = map[string]int{"s": 1}
	mustFit(t, e, rec)
	got := append(append(e.OutputColumns("f"), e.OutputColumns("b")...), e.OutputColumns("s")...)
	want := []string{"f_1e-05", "f_0.5", "f_1.0", "b_False", "b_True", "s_b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	out := mustTransform(t, e, rec)
	if got := int64sIn(t, out, "s_b"); !reflect.DeepEqual(got, []int64{0, 1, 1, 0}) {
		t.Errorf("s_b = %v", got)
	}
	if got := int64sIn(t, out, "f_1.0"); !reflect.DeepEqual(got, []int64{1, 0, 1, 0}) {
		t.Errorf("f_1.0 = %v", got)
	}
}

func TestLabelAndOrdinalEncoder(t *testing.T) {
	rec := record(strCol("y", "cat", "dog", "cat", "ant"), listCol("tags", []string{"b", "a"}, nil, []string{}, []string{"c"}))
	defer rec.Release()
	l := NewLabelEncoder("y")
	mustFit(t, l, rec)
	if got := l.Classes(); !reflect.DeepEqual(got, []any{"ant", "cat", "dog"}) {
		t.Fatalf("Classes = %v", got)
	}
	serve := record(strCol("y", "dog", "emu", nil, "ant"), listCol("tags", []string{"c", "z"}, []string{"a"}, nil, []string{}))
	defer serve.Release()
	out := mustTransform(t, l, serve)
	y := colOf(t, out, "y").(*array.Int64)
	if y.Value(0) != 2 || !y.IsNull(1) || !y.IsNull(2) || y.Value(3) != 0 {
		t.Errorf("labels = %v, want [2 null null 0]", y)
	}

	o := NewOrdinalEncoder("y", "tags")
	mustFit(t, o, rec)
	out = mustTransform(t, o, serve)
	tags := colOf(t, out, "tags").(*array.List)
	if tags.DataType().(*arrow.ListType).Elem().ID() != arrow.INT64 {
		t.Fatalf("tags type %s", tags.DataType())
	}
	// tags categories a, b, c: [c z] -> [2 null]; [a] -> [0]; null; [].
	if s := tags.String(); s != "[[2 (null)] [0] (null) []]" {
		t.Errorf("tags = %s", s)
	}
	o.HandleUnknown = UnknownError
	if _, err := o.TransformBatch(serve); err == nil || !strings.Contains(err.Error(), "emu") {
		t.Errorf("unseen with UnknownError: %v", err)
	}
}

func TestCategorizer(t *testing.T) {
	rec := record(strCol("c", "b", "a", "b"), intCol("i", 10, 5, 10))
	defer rec.Release()
	c := NewCategorizer("c", "i")
	mustFit(t, c, rec)
	serve := record(strCol("c", "a", "zz", nil), intCol("i", 5, 7, 10))
	defer serve.Release()
	out := mustTransform(t, c, serve)
	d := colOf(t, out, "c").(*array.Dictionary)
	if d.Dictionary().String() != `["a" "b"]` || d.GetValueIndex(0) != 0 || !d.IsNull(1) || !d.IsNull(2) {
		t.Errorf("c = %v (dict %v)", d, d.Dictionary())
	}
	di := colOf(t, out, "i").(*array.Dictionary)
	if di.Dictionary().String() != "[5 10]" || di.GetValueIndex(2) != 1 || !di.IsNull(1) {
		t.Errorf("i = %v", di)
	}
	// A categorical column can be encoded again (dictionary input).
	o := NewOneHotEncoder("c")
	mustFit(t, o, out)
	if got := o.OutputColumns("c"); !reflect.DeepEqual(got, []string{"c_a"}) {
		t.Errorf("one-hot of a dictionary column: %v", got)
	}
}

func TestMultiHotEncoder(t *testing.T) {
	rec := record(listCol("genre", []string{"comedy", "action", "comedy"}, []string{"drama"}, nil))
	defer rec.Release()
	m := NewMultiHotEncoder("genre")
	mustFit(t, m, rec)
	serve := record(listCol("genre", []string{"drama", "horror", "comedy", "comedy"}, nil, []string{}))
	defer serve.Release()
	out := mustTransform(t, m, serve)
	g := colOf(t, out, "genre").(*array.FixedSizeList)
	// categories action, comedy, drama; horror unseen is ignored.
	if s := g.String(); s != "[[0 2 1] (null) [0 0 0]]" {
		t.Errorf("genre = %s", s)
	}
}

func TestTextEncoders(t *testing.T) {
	rec := record(strCol("txt", "the cat", "the the dog", nil))
	defer rec.Release()

	tok := mustTransform(t, NewTokenizer("txt"), rec)
	if s := colOf(t, tok, "txt").String(); s != `[["the" "cat"] ["the" "the" "dog"] (null)]` {
		t.Errorf("tokens = %s", s)
	}

	cv := NewCountVectorizer("txt")
	mustFit(t, cv, rec)
	out := mustTransform(t, cv, rec)
	// Most frequent first: the (3), then cat and dog (1 each, by token).
	var names []string
	for _, f := range out.Schema().Fields() {
		names = append(names, f.Name)
	}
	if !reflect.DeepEqual(names, []string{"txt_the", "txt_cat", "txt_dog"}) {
		t.Fatalf("columns = %v", names)
	}
	if the := colOf(t, out, "txt_the").(*array.Int64); the.Value(0) != 1 || the.Value(1) != 2 || !the.IsNull(2) {
		t.Errorf("txt_the = %v", the)
	}
	// CountVectorizer also takes a Tokenizer's output.
	cv2 := &CountVectorizer{Columns: []string{"txt"}, MaxFeatures: 1}
	mustFit(t, cv2, tok)
	if got := cv2.Stats["txt"]; !reflect.DeepEqual(got, []TokenCount{{"the", 3}}) {
		t.Errorf("vocabulary = %v", got)
	}

	// simple_hash("the", 8) = 6, ("cat", 8) = 0, ("dog", 8) computed below.
	hv := NewHashingVectorizer(8, "txt")
	out = mustTransform(t, hv, rec)
	if got := int64sIn(t, out, "hash_txt_6"); got[0] != 1 || got[1] != 2 {
		t.Errorf("hash_txt_6 = %v", got)
	}
	if got := int64sIn(t, out, "hash_txt_0"); got[0] != 1 {
		t.Errorf("hash_txt_0 = %v", got)
	}
	if out.NumCols() != 8 {
		t.Errorf("%d columns, want 8", out.NumCols())
	}

	// FeatureHasher: columns named by token, holding counts.
	counts := record(floatCol("hello", 1, 2), floatCol("world", 3, 0), floatCol("goray", 10, 1))
	defer counts.Release()
	out = mustTransform(t, NewFeatureHasher(8, "hello", "world", "goray"), counts)
	// simple_hash: hello -> 5, world -> 3, goray -> 5 (collides with hello).
	assertClose(t, "hash_5", floatsIn(t, out, "hash_5"), []float64{11, 3}, 0)
	assertClose(t, "hash_3", floatsIn(t, out, "hash_3"), []float64{3, 0}, 0)
	assertClose(t, "hash_0", floatsIn(t, out, "hash_0"), []float64{0, 0}, 0)
}

func TestSimpleImputer(t *testing.T) {
	rec := smallData() // a = 1, 2, NaN, 4, 10, -3; s = x, y, null, x, z, y
	defer rec.Release()
	// scikit-learn SimpleImputer(strategy).fit(a).statistics_: mean 2.8,
	// median 2, most_frequent -3 (all values tie: the smallest wins).
	for strategy, want := range map[string]float64{ImputeMean: 2.8, ImputeMedian: 2, ImputeMostFrequent: -3} {
		im := NewSimpleImputer(strategy, "a")
		mustFit(t, im, split(rec, 2)...)
		out := mustTransform(t, im, rec)
		assertClose(t, strategy, floatsIn(t, out, "a"), []float64{1, 2, want, 4, 10, -3}, 1e-15)
	}
	// Strings: x and y tie at 2; scikit-learn picks the smallest, "x".
	im := NewSimpleImputer(ImputeMostFrequent, "s")
	mustFit(t, im, rec)
	out := mustTransform(t, im, rec)
	if s := colOf(t, out, "s").String(); s != `["x" "y" "x" "x" "z" "y"]` {
		t.Errorf("s = %s", s)
	}
	c := NewConstantImputer("missing", "s")
	out = mustTransform(t, c, rec) // constant: no Fit needed
	if s := colOf(t, out, "s").String(); !strings.Contains(s, `"missing"`) {
		t.Errorf("s = %s", s)
	}
	c0 := NewConstantImputer(0, "a")
	assertClose(t, "a", floatsIn(t, mustTransform(t, c0, rec), "a"), []float64{1, 2, 0, 4, 10, -3}, 0)
	if _, err := NewConstantImputer(0, "s").TransformBatch(rec); err == nil || !strings.Contains(err.Error(), `"s"`) {
		t.Errorf("number into a string column: %v", err)
	}
}

func TestCustomKBinsDiscretizer(t *testing.T) {
	rec := record(floatCol("x", 0, 1, 1.5, 3, 4, nan, -1))
	defer rec.Release()
	// pandas.cut(x, [0, 1, 2, 4], labels=False): (0,1] (1,2] (2,4].
	d := NewCustomKBinsDiscretizer([]float64{0, 1, 2, 4}, "x")
	assertClose(t, "right", floatsIn(t, mustTransform(t, d, rec), "x"), []float64{nan, 0, 1, 2, 2, nan, nan}, 0)
	d.IncludeLowest = true
	assertClose(t, "include_lowest", floatsIn(t, mustTransform(t, d, rec), "x"), []float64{0, 0, 1, 2, 2, nan, nan}, 0)
	d = NewCustomKBinsDiscretizer([]float64{0, 1, 2, 4}, "x")
	d.LeftClosed = true // pandas right=False: [0,1) [1,2) [2,4)
	assertClose(t, "left", floatsIn(t, mustTransform(t, d, rec), "x"), []float64{0, 1, 1, 2, nan, nan, nan}, 0)
}

func TestKBinsDiscretizerSmall(t *testing.T) {
	rec := smallData() // c = 0, -2, 4, 4, 7, 1
	defer rec.Release()
	// scikit-learn KBinsDiscretizer(3, encode="ordinal", strategy="uniform")
	// on c: edges [-2, 1, 4, 7]; quantile with 4 bins: [-2, 0.25, 2.5, 4, 7].
	u := NewKBinsDiscretizer(3, BinsUniform, "c")
	mustFit(t, u, rec)
	assertClose(t, "uniform edges", u.Stats["c"], []float64{-2, 1, 4, 7}, 1e-15)
	probe := record(floatCol("c", -5, 0, 1.5, 7, 100, nan))
	defer probe.Release()
	assertClose(t, "uniform", floatsIn(t, mustTransform(t, u, probe), "c"), []float64{0, 0, 1, 2, 2, nan}, 0)
	q := NewKBinsDiscretizer(4, BinsQuantile, "c")
	mustFit(t, q, rec)
	assertClose(t, "quantile edges", q.Stats["c"], []float64{-2, 0.25, 2.5, 4, 7}, 1e-15)
	assertClose(t, "quantile", floatsIn(t, mustTransform(t, q, rec), "c"), []float64{0, 0, 3, 3, 3, 1}, 0)
	// Constant column: one bin.
	k := NewKBinsDiscretizer(3, BinsQuantile, "b")
	mustFit(t, k, rec)
	assertClose(t, "constant", floatsIn(t, mustTransform(t, k, rec), "b"), []float64{0, 0, 0, 0, 0, 0}, 0)
}

func TestConcatenator(t *testing.T) {
	rec := smallData()
	defer rec.Release()
	m := NewMultiHotEncoder("s")
	mustFit(t, m, rec)
	mh := mustTransform(t, m, rec) // s -> fixed-size list of 3 counts
	out := mustTransform(t, NewConcatenator("c", "a", "s"), mh)
	var names []string
	for _, f := range out.Schema().Fields() {
		names = append(names, f.Name)
	}
	if !reflect.DeepEqual(names, []string{"b", "concat_out"}) {
		t.Fatalf("columns = %v", names)
	}
	v := colOf(t, out, "concat_out").(*array.FixedSizeList)
	if v.DataType().(*arrow.FixedSizeListType).Len() != 5 {
		t.Fatalf("type %s", v.DataType())
	}
	// Row 2: c=4, a=NaN, s=null (multi-hot null -> NaN).
	if s := v.String(); !strings.HasPrefix(s, "[[0 1 1 0 0] [-2 2 0 1 0] [4 NaN NaN NaN NaN]") {
		t.Errorf("concat_out = %s", s)
	}
}
