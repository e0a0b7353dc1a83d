package preprocess

import (
	"bytes"
	"encoding/gob"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMomentsMergeMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, 1000)
	for i := range vals {
		vals[i] = r.NormFloat64()*3 + 1e6 // large offset: catches naive sum-of-squares
	}
	vals[17] = nan
	// Direct textbook computation, independent of Moments.
	var sum float64
	n := 0
	for _, v := range vals {
		if !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	mean := sum / float64(n)
	var ss float64
	for _, v := range vals {
		if !math.IsNaN(v) {
			ss += (v - mean) * (v - mean)
		}
	}
	var m Moments
	for _, cut := range [][2]int{{0, 3}, {3, 400}, {400, 401}, {401, 1000}} {
		m = m.Merge(MomentsOf(vals[cut[0]:cut[1]]))
	}
	if m.N != int64(n) || !closeTo(m.Mean, mean, 1e-15) || !closeTo(m.Var(), ss/float64(n), 1e-9) {
		t.Fatalf("merged = %+v (var %v), want n=%d mean=%v var=%v", m, m.Var(), n, mean, ss/float64(n))
	}
	if e := (Moments{}).Merge(Moments{}); e.N != 0 {
		t.Fatalf("empty merge = %+v", e)
	}
}

func TestSortedKthAndQuantile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all []float64
	var s Sorted
	for b := 0; b < 7; b++ {
		run := make([]float64, r.IntN(50))
		for i := range run {
			run[i] = float64(r.IntN(20)) // many duplicates
		}
		all = append(all, run...)
		s = s.Merge(SortedOf(run))
	}
	slices.Sort(all)
	for k := range all {
		if got := s.Kth(k); got != all[k] {
			t.Fatalf("Kth(%d) = %v, want %v", k, got, all[k])
		}
	}
	// numpy.percentile([1, 2, 3, 4], q) for q in 0, 25, 50, 90, 100
	// = 1, 1.75, 2.5, 3.7, 4 (linear interpolation between order statistics).
	q := SortedOf([]float64{4, nan, 1, 3, 2})
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.25, 1.75}, {0.5, 2.5}, {0.9, 3.7}, {1, 4}} {
		if got := q.Quantile(c.q); !closeTo(got, c.want, 1e-15) {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := q.Median(); got != 2.5 {
		t.Errorf("Median = %v, want 2.5", got)
	}
	if got := SortedOf([]float64{5, 1, 3}).Median(); got != 3 {
		t.Errorf("odd Median = %v, want 3", got)
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{1: "1.0", 0.1: "0.1", 1e-5: "1e-05", 1e16: "1e+16", 123456.5: "123456.5", -2.5: "-2.5", 1e15: "1000000000000000.0"} {
		if got := pyFloat(f); got != want {
			t.Errorf("pyFloat(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestSimpleHashMatchesRay(t *testing.T) {
	// int(hashlib.sha1(w.encode()).hexdigest(), 16) % n, computed in Python.
	for _, c := range []struct {
		w      string
		n, got int
	}{{"hello", 8, 5}, {"world", 8, 3}, {"a", 8, 0}, {"", 8, 1}, {"the", 8, 6}, {"hello", 1000003, 941054}, {"cat", 1000003, 201581}} {
		if h := simpleHash(c.w, c.n); h != c.got {
			t.Errorf("simpleHash(%q, %d) = %d, want %d", c.w, c.n, h, c.got)
		}
	}
}

// Block partials survive gob, the codec the object store spills with.
func TestPartialsGob(t *testing.T) {
	rec := mixedData()[0]
	for _, p := range []Preprocessor{NewStandardScaler("a"), NewRobustScaler("a"), NewOneHotEncoder("s"), NewCountVectorizer("txt"), NewPowerTransformer("", "a"), NewMinMaxScaler("a")} {
		plan, err := p.(planner).plan()
		if err != nil {
			t.Fatal(err)
		}
		pt, err := plan.fitBlock(rec)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		var v any = pt
		if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
			t.Fatalf("%s: encode: %v", p.TypeName(), err)
		}
		var back any
		if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatalf("%s: decode: %v", p.TypeName(), err)
		}
		if err := plan.finishParts(p.TypeName(), []partial{back.(partial)}); err != nil {
			t.Fatalf("%s: finish from decoded partial: %v", p.TypeName(), err)
		}
	}
}
