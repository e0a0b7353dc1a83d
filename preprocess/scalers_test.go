package preprocess

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
)

// smallData is the hand-built table the numeric tests share: a has a NaN
// and a negative value, b is constant, c is an integer column. Expected
// values below come from scikit-learn 1.2.1 (Debian python3-sklearn) run on
// the same numbers, e.g. StandardScaler().fit_transform(np.c_[a, b, c]),
// and where noted are also re-derived by hand in the test.
func smallData() arrow.Record {
	return record(
		floatCol("a", 1, 2, nan, 4, 10, -3),
		floatCol("b", 5, 5, 5, 5, 5, 5),
		intCol("c", 0, -2, 4, 4, 7, 1),
		strCol("s", "x", "y", nil, "x", "z", "y"),
	)
}

func TestScalersSmall(t *testing.T) {
	tests := []struct {
		name string
		p    Preprocessor
		want map[string][]float64
		tol  float64 // 0: 1e-9
	}{
		{"standard", NewStandardScaler("a", "b", "c"), map[string][]float64{
			"a": {-0.4223909290175388, -0.1877293017855728, nan, 0.2815939526783593, 1.6895637160701553, -1.3610374379454029},
			"b": {0, 0, 0, 0, 0, 0}, // constant: centred, not divided by zero
			"c": {-0.7826237921249265, -1.4534441853748634, 0.5590169943749473, 0.5590169943749473, 1.5652475842498526, -0.447213595499958},
		}, 0},
		{"minmax", NewMinMaxScaler("a", "b", "c"), map[string][]float64{
			"a": {0.3076923076923077, 0.38461538461538464, nan, 0.5384615384615385, 1.0, 0.0},
			"b": {0, 0, 0, 0, 0, 0},
			"c": {0.2222222222222222, 0.0, 0.6666666666666666, 0.6666666666666666, 0.9999999999999999, 0.3333333333333333},
		}, 0},
		{"maxabs", NewMaxAbsScaler("a", "c"), map[string][]float64{
			"a": {0.1, 0.2, nan, 0.4, 1.0, -0.3},
			"c": {0.0, -0.2857142857142857, 0.5714285714285714, 0.5714285714285714, 1.0, 0.14285714285714285},
		}, 0},
		{"robust", NewRobustScaler("a", "b", "c"), map[string][]float64{
			"a": {-0.3333333333333333, 0.0, nan, 0.6666666666666666, 2.6666666666666665, -1.6666666666666667},
			"b": {0, 0, 0, 0, 0, 0},
			"c": {-0.6666666666666666, -1.2, 0.4, 0.4, 1.2, -0.4},
		}, 0},
		{"robust 10-90", &RobustScaler{Columns: []string{"a"}, QuantileRange: [2]float64{0.1, 0.9}}, map[string][]float64{
			"a": {-0.1111111111111111, 0.0, nan, 0.2222222222222222, 0.8888888888888888, -0.5555555555555556},
		}, 0},
		{"yeo-johnson", NewPowerTransformer(YeoJohnson, "a", "c"), map[string][]float64{
			"a": {-0.3275001064496373, -0.08861300434329349, nan, 0.3577990325121042, 1.5710991590345524, -1.5127850807537255},
			"c": {-0.7248215075653841, -1.5744078198665794, 0.5972274117995536, 0.5972274117995536, 1.4667857656795618, -0.3620112618467058},
		}, 1e-7}, // lambdas are found to scipy's Brent tolerance (1.48e-8)
		{"yeo-johnson unstandardized", &PowerTransformer{Columns: []string{"a"}}, map[string][]float64{
			"a": {0.9456152154455333, 1.8215174567806929, nan, 3.4583295751116854, 7.907009687444228, -3.4003446813414935},
		}, 1e-7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := smallData()
			defer rec.Release()
			// Fit on three blocks: the merged statistics must equal one pass.
			parts := split(rec, 3)
			mustFit(t, tc.p, parts...)
			out := mustTransform(t, tc.p, rec)
			tol := tc.tol
			if tol == 0 {
				tol = 1e-9
			}
			for name, want := range tc.want {
				assertClose(t, name, floatsIn(t, out, name), want, tol)
				if dt := colOf(t, out, name).DataType(); dt.ID() != arrow.FLOAT64 {
					t.Errorf("%s: type %s, want float64", name, dt)
				}
			}
			// Untouched columns pass through; the order of columns is kept.
			if got := out.Schema().Field(3).Name; got != "s" {
				t.Errorf("column 3 is %q, want s", got)
			}
		})
	}
}

func TestStandardScalerByHand(t *testing.T) {
	// a without its NaN is 1, 2, 4, 10, -3: mean 14/5 = 2.8, population
	// variance ((1.8)^2+(0.8)^2+(1.2)^2+(7.2)^2+(5.8)^2)/5 = 90.8/5 = 18.16.
	rec := smallData()
	defer rec.Release()
	s := NewStandardScaler("a")
	mustFit(t, s, rec)
	if st := s.Stats["a"]; !closeTo(st.Mean, 2.8, 1e-15) || !closeTo(st.Std, math.Sqrt(18.16), 1e-15) {
		t.Fatalf("stats = %+v, want mean 2.8 std sqrt(18.16)", st)
	}
	out := mustTransform(t, s, rec)
	got := floatsIn(t, out, "a")
	if !closeTo(got[4], (10-2.8)/math.Sqrt(18.16), 1e-15) || !math.IsNaN(got[2]) {
		t.Fatalf("transformed a = %v", got)
	}
}

func TestScalersKeepNulls(t *testing.T) {
	rec := record(nullFloatCol("x", 1, nil, 3))
	defer rec.Release()
	s := NewStandardScaler("x")
	mustFit(t, s, rec)
	out := mustTransform(t, s, rec)
	x := colOf(t, out, "x")
	if x.NullN() != 1 || !x.IsNull(1) {
		t.Fatalf("nulls not kept: %v", x)
	}
	assertClose(t, "x", floatsIn(t, out, "x"), []float64{-1, nan, 1}, 1e-15)
}

func TestBoxCox(t *testing.T) {
	// scikit-learn: PowerTransformer(method="box-cox").fit(pos) gives
	// lambda 0.05792357210327288 and the values below.
	rec := record(floatCol("p", 0.5, 1.5, 2.0, nan, 8.0, 3.25))
	defer rec.Release()
	p := NewPowerTransformer(BoxCox, "p")
	mustFit(t, p, split(rec, 2)...)
	if l := p.Stats["p"].Lambda; !closeTo(l, 0.05792357210327288, 1e-7) {
		t.Errorf("lambda = %v, want 0.05792357210327288", l)
	}
	out := mustTransform(t, p, rec)
	assertClose(t, "p", floatsIn(t, out, "p"),
		[]float64{-1.5299320511953487, -0.38253379165272383, -0.06981713455980072, nan, 1.5123796700713086, 0.4699033073365648}, 1e-7)

	// Non-positive values are an error naming the column, at fit and at
	// transform.
	bad := record(floatCol("p", 1, 0, 2))
	defer bad.Release()
	err := fitRecs(NewPowerTransformer(BoxCox, "p"), bad)
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"p"`) || !strings.Contains(err.Error(), "positive") {
		t.Errorf("fit on 0: %v", err)
	}
	if _, err := p.TransformBatch(bad); err == nil || !strings.Contains(err.Error(), `"p"`) {
		t.Errorf("transform of 0: %v", err)
	}
}

func TestYeoJohnsonConstantColumn(t *testing.T) {
	rec := record(floatCol("k", 3, 3, 3))
	defer rec.Release()
	p := NewPowerTransformer(YeoJohnson, "k")
	mustFit(t, p, rec)
	if p.Stats["k"].Lambda != 1 {
		t.Errorf("lambda = %v, want 1 (identity) for a constant column", p.Stats["k"].Lambda)
	}
	out := mustTransform(t, p, rec)
	assertClose(t, "k", floatsIn(t, out, "k"), []float64{0, 0, 0}, 0)
}

func TestNormalizer(t *testing.T) {
	// scikit-learn Normalizer(norm).fit_transform(np.c_[a, c]) on rows
	// without NaN; the row with a NaN in a keeps the NaN and c is scaled by
	// the norm of the remaining values (4 -> 1).
	want := map[string][2][]float64{
		NormL1:  {{1.0, 0.5, nan, 0.5, 0.5882352941176471, -0.75}, {0.0, -0.5, 1.0, 0.5, 0.4117647058823529, 0.25}},
		NormL2:  {{1.0, 0.7071067811865475, nan, 0.7071067811865475, 0.8192319205190405, -0.9486832980505138}, {0.0, -0.7071067811865475, 1.0, 0.7071067811865475, 0.5734623443633283, 0.31622776601683794}},
		NormMax: {{1.0, 1.0, nan, 1.0, 1.0, -1.0}, {0.0, -1.0, 1.0, 1.0, 0.7, 0.3333333333333333}},
	}
	for norm, w := range want {
		t.Run(norm, func(t *testing.T) {
			rec := smallData()
			defer rec.Release()
			n := NewNormalizer(norm, "a", "c")
			out := mustTransform(t, n, rec) // no Fit needed
			assertClose(t, "a", floatsIn(t, out, "a"), w[0], 1e-12)
			assertClose(t, "c", floatsIn(t, out, "c"), w[1], 1e-12)
		})
	}
	zero := record(floatCol("u", 0, 1), floatCol("v", 0, 0))
	defer zero.Release()
	out := mustTransform(t, NewNormalizer("", "u", "v"), zero)
	assertClose(t, "u", floatsIn(t, out, "u"), []float64{0, 1}, 0) // zero row left as is
}
