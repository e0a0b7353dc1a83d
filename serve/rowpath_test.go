package serve

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

// bcFull is the whole breast cancer data set: feature names, rows, labels.
func bcFull(t testing.TB) ([]string, [][]float64, []float64) {
	t.Helper()
	f, err := os.Open("../train/gbdt/testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	names := recs[0][:len(recs[0])-1]
	var rows [][]float64
	var labels []float64
	for i, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("line %d: %v", i+2, err)
			}
		}
		rows = append(rows, row[:len(names)])
		labels = append(labels, row[len(names)])
	}
	return names, rows, labels
}

// fitScaler fits a StandardScaler on cols of rows the way preprocess does
// (population std, constant columns only centred) closely enough for a
// test: what matters is that both paths apply the same stored state.
func fitScaler(names []string, rows [][]float64, cols ...string) *preprocess.StandardScaler {
	s := &preprocess.StandardScaler{Columns: cols, Stats: map[string]preprocess.MeanStd{}}
	for _, c := range cols {
		j := indexOf(names, c)
		var sum, sq float64
		for _, r := range rows {
			sum += r[j]
		}
		mean := sum / float64(len(rows))
		for _, r := range rows {
			sq += (r[j] - mean) * (r[j] - mean)
		}
		std := math.Sqrt(sq / float64(len(rows)))
		s.Stats[c] = preprocess.MeanStd{Mean: mean, Std: std, Scale: std}
	}
	return s
}

func indexOf(names []string, n string) int {
	for i, x := range names {
		if x == n {
			return i
		}
	}
	panic("no column " + n)
}

// gbdtCheckpoint trains a small model on rows (transformed by pre, if
// any, as the trainer would) and saves it with pre's state.
func gbdtCheckpoint(t testing.TB, names []string, rows [][]float64, labels []float64, params gbdt.Params, pre preprocess.Preprocessor, featType string) *checkpoint.Checkpoint {
	t.Helper()
	cols := make([][]float64, len(names))
	for j := range names {
		for _, r := range rows {
			cols[j] = append(cols[j], r[j])
		}
	}
	if pre != nil {
		sc, _ := scalings(pre)
		for j, n := range names {
			for i, v := range cols[j] {
				for _, s := range sc[n] {
					v = (v - s.mean) / s.scale
				}
				cols[j][i] = v
			}
		}
	}
	m, err := gbdt.NewMatrix(names, cols, labels)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gbdt.Train(context.Background(), m, nil, params, 15)
	if err != nil {
		t.Fatal(err)
	}
	feats := make([]checkpoint.Feature, len(names))
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
	}
	if featType != "" {
		feats[0].Type = featType
	}
	opts := []gbdt.CheckpointOption{gbdt.WithInputFeatures(feats)}
	if pre != nil {
		state, err := preprocess.Marshal(pre)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, gbdt.WithPreprocessorState(state))
	}
	ckpt, err := b.SaveCheckpoint(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ckpt
}

// arrowOnlyFactory is gbdt's factory under another name: the handler
// cannot know what it returns, so it takes the Arrow path.
func arrowOnlyFactory(ckpt *checkpoint.Checkpoint) (train.Predictor, error) {
	return gbdt.NewPredictor(ckpt)
}

// answer is what a handler said: the body, or the status and message.
func answer(h *PredictorHandler, req *Request) string {
	resp, err := h.ServeRequest(context.Background(), req)
	if err != nil {
		code, msg := statusOf(err)
		return fmt.Sprintf("%d %s", code, msg)
	}
	return string(resp.Body)
}

// The row path answers every request with exactly the bytes of the Arrow
// path: the same predictions to the last bit, the same errors.
func TestRowPathEqualsArrowPath(t *testing.T) {
	names, rows, labels := bcFull(t)
	binary := gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": 5, "eta": 0.3}
	leavesModel, err := os.ReadFile("testdata/bc_gbdt_lightgbm.txt")
	if err != nil {
		t.Fatal(err)
	}
	feats := make([]checkpoint.Feature, len(names))
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
	}
	leavesCkpt, err := gbdt.CheckpointFromModel(t.TempDir(), gbdt.FormatLightGBM, leavesModel,
		gbdt.WithFeatureNames(names), gbdt.WithInputFeatures(feats))
	if err != nil {
		t.Fatal(err)
	}
	demo := fitScaler(names, rows, "mean radius", "mean texture")
	chain := preprocess.NewChain(
		fitScaler(names, rows, "mean radius", "mean area", "mean radius"), // listed twice: scaled once
		fitScaler(names, rows, "mean area", "worst texture"),              // "mean area" scaled again
	)
	for _, tc := range []struct {
		name string
		ckpt *checkpoint.Checkpoint
	}{
		{"demo StandardScaler", gbdtCheckpoint(t, names, rows, labels, binary, demo, "")},
		{"no preprocessor", gbdtCheckpoint(t, names, rows, labels, binary, nil, "")},
		{"chain of scalers", gbdtCheckpoint(t, names, rows, labels, binary, chain, "")},
		{"regression", gbdtCheckpoint(t, names, rows, labels, gbdt.Params{"objective": gbdt.RegSquaredError, "max_depth": 4}, demo, "")},
		{"model read by leaves", leavesCkpt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, err := NewPredictorHandler(tc.ckpt, gbdt.PredictorFactory, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fast.rows == nil {
				t.Fatal("gbdt.PredictorFactory with JSONAdapter did not get the row path")
			}
			slow, err := NewPredictorHandler(tc.ckpt, arrowOnlyFactory, nil)
			if err != nil {
				t.Fatal(err)
			}
			if slow.rows != nil {
				t.Fatal("an unknown factory got the row path")
			}
			distinctAnswers := map[string]bool{}
			check := func(what string, req *Request) {
				t.Helper()
				got, want := answer(fast, req), answer(slow, req)
				if got != want {
					t.Fatalf("%s:\n row path:   %s\n Arrow path: %s", what, got, want)
				}
				distinctAnswers[got] = true
			}
			post := func(body string) *Request { return &Request{Method: "POST", Path: "/", Body: []byte(body)} }
			for i, r := range rows {
				check(fmt.Sprintf("row %d", i), post(recordsJSON(names, [][]float64{r})))
			}
			if len(distinctAnswers) < 25 {
				t.Fatalf("%d distinct answers over %d rows: the comparison would prove little", len(distinctAnswers), len(rows))
			}
			bare := map[string]float64{}
			for j, n := range names {
				bare[n] = rows[3][j]
			}
			b, _ := json.Marshal(bare)
			check("one bare record object", post(string(b)))
			for _, n := range []int{2, 7, rowPathMaxRows, rowPathMaxRows + 1, len(rows)} {
				check(fmt.Sprintf("%d records", n), post(recordsJSON(names, rows[:n])))
				check(fmt.Sprintf("%d rows columnar", n), post(columnarJSON(names, rows[len(rows)-n:])))
			}
			// Extreme but valid values.
			ext := append([]float64(nil), rows[0]...)
			ext[0], ext[1], ext[2] = 1e300, -1e-300, 0
			check("extreme values", post(recordsJSON(names, [][]float64{ext})))

			// Bad input is refused the same way.
			miss := map[string]float64{}
			for j, n := range names[1:] {
				miss[n] = rows[0][j+1]
			}
			mb, _ := json.Marshal([]any{miss})
			check("missing feature", post(string(mb)))
			check("unknown feature", post(`[{"no such feature": 1}]`))
			check("wrong type", post(fmt.Sprintf(`[{%q: "x"}]`, names[0])))
			check("null", post(fmt.Sprintf(`[{%q: null}]`, names[0])))
			check("empty body", post(""))
			check("empty list", post("[]"))
			check("malformed", post(`[{"mean radius": 1,`))
			check("out of range", post(fmt.Sprintf(`[{%q: 1e999}]`, names[0])))
			check("wrong content type", &Request{Method: "POST", Path: "/", Header: http.Header{"Content-Type": {"text/csv"}},
				Body: []byte(recordsJSON(names, rows[:1]))})
			check("JSON content type", &Request{Method: "POST", Path: "/", Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
				Body: []byte(recordsJSON(names, rows[:1]))})
			check("GET", &Request{Method: "GET", Path: "/"})
			check("other path", &Request{Method: "POST", Path: "/x", Body: []byte(recordsJSON(names, rows[:1]))})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, ferr := fast.ServeRequest(ctx, post(recordsJSON(names, rows[:1])))
			_, serr := slow.ServeRequest(ctx, post(recordsJSON(names, rows[:1])))
			fc, fm := statusOf(ferr)
			if sc, sm := statusOf(serr); ferr == nil || fc != sc || fm != sm {
				t.Fatalf("cancelled request: row path %d %q, Arrow path %d %q", fc, fm, sc, sm)
			}
		})
	}
}

// The row path is only taken where it is known to answer what the Arrow
// path answers; everything else still works, through Arrow.
func TestRowPathOnlyWhereKnown(t *testing.T) {
	names, rows, labels := bcFull(t)
	binary := gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": 3}
	demo := fitScaler(names, rows, "mean radius", "mean texture")
	minmax := &preprocess.MinMaxScaler{Columns: []string{"mean radius"},
		Stats: map[string]preprocess.MinMax{"mean radius": {Min: 6, Max: 28}}}
	multiLabels := make([]float64, len(labels))
	for i, r := range rows {
		multiLabels[i] = float64(min(int(r[0]/8), 2))
	}
	demoCkpt := gbdtCheckpoint(t, names, rows, labels, binary, demo, "")
	for _, tc := range []struct {
		name    string
		ckpt    *checkpoint.Checkpoint
		factory train.PredictorFactory
		adapter Adapter
		want    bool
	}{
		{"demo", demoCkpt, gbdt.PredictorFactory, nil, true},
		{"JSONAdapter given", demoCkpt, gbdt.PredictorFactory, JSONAdapter, true},
		{"registered factory", demoCkpt, train.FactoryForFramework(gbdt.Framework), nil, true},
		{"custom adapter", demoCkpt, gbdt.PredictorFactory, func(req *Request, in *InputSchema) (arrowRecord, error) {
			return in.DecodeJSON(req.Body)
		}, false},
		{"other factory", demoCkpt, arrowOnlyFactory, nil, false},
		{"MinMaxScaler", gbdtCheckpoint(t, names, rows, labels, binary, minmax, ""), gbdt.PredictorFactory, nil, false},
		{"int64 feature", gbdtCheckpoint(t, names, rows, labels, binary, demo, "int64"), gbdt.PredictorFactory, nil, false},
		{"multiclass", gbdtCheckpoint(t, names, rows, multiLabels, gbdt.Params{"objective": gbdt.MultiSoftprob, "num_class": 3, "max_depth": 3}, nil, ""),
			gbdt.PredictorFactory, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewPredictorHandler(tc.ckpt, tc.factory, tc.adapter)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.rows != nil; got != tc.want {
				t.Fatalf("row path: %v, want %v", got, tc.want)
			}
			body := recordsJSON(names, rows[:1])
			if tc.name == "int64 feature" {
				r := append([]float64(nil), rows[0]...)
				r[0] = 17
				body = recordsJSON(names, [][]float64{r})
			}
			resp, err := h.ServeRequest(context.Background(), &Request{Method: "POST", Path: "/", Body: []byte(body)})
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			if err := json.Unmarshal(resp.Body, &out); err != nil || out["predictions"] == nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
		})
	}
}

// The row path's preprocessing gives the preprocessor's own values, bit
// for bit (a difference of one ulp rarely changes a tree's answer, so the
// predictions alone would not show it).
func TestRowPathInputsEqualPreprocessor(t *testing.T) {
	names, rows, labels := bcFull(t)
	chain := preprocess.NewChain(
		fitScaler(names, rows, "mean radius", "mean texture", "mean radius"),
		fitScaler(names, rows, "mean texture", "worst area"),
	)
	ckpt := gbdtCheckpoint(t, names, rows, labels, gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": 3}, chain, "")
	h, err := NewPredictorHandler(ckpt, gbdt.PredictorFactory, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.rows == nil {
		t.Fatal("no row path")
	}
	c, err := h.in.decodeColumns([]byte(recordsJSON(names, rows)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.in.putColumns(c)
	F := len(h.rows.src)
	x := h.rows.inputs(make([]float64, len(rows)*F), c)

	rec := c.record()
	defer rec.Release()
	pre, err := train.LoadPreprocessor(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pre.TransformBatch(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	_, modelNames, err := gbdt.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for j, n := range modelNames {
		col := out.Column(out.Schema().FieldIndices(n)[0]).(*array.Float64).Float64Values()
		for r, want := range col {
			if got := x[r*F+j]; math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("row %d column %q: row path %v (%#x), preprocessor %v (%#x)", r, n, got, math.Float64bits(got), want, math.Float64bits(want))
			}
		}
	}
}

// FuzzRowPathEqualsArrowPath: whatever the body, the row path answers the
// Arrow path's bytes, predictions and refusals alike.
func FuzzRowPathEqualsArrowPath(f *testing.F) {
	names, rows, labels := bcFull(f)
	ckpt := gbdtCheckpoint(f, names, rows, labels, gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": 4},
		fitScaler(names, rows, "mean radius", "mean texture"), "")
	fast, err := NewPredictorHandler(ckpt, gbdt.PredictorFactory, nil)
	if err != nil {
		f.Fatal(err)
	}
	slow, err := NewPredictorHandler(ckpt, arrowOnlyFactory, nil)
	if err != nil {
		f.Fatal(err)
	}
	if fast.rows == nil || slow.rows != nil {
		f.Fatal("want the row path on one handler only")
	}
	f.Add([]byte(recordsJSON(names, rows[:1])))
	f.Add([]byte(recordsJSON(names, rows[:3])))
	f.Add([]byte(columnarJSON(names, rows[:2])))
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := func() *Request { return &Request{Method: "POST", Path: "/", Body: body} }
		if got, want := answer(fast, req()), answer(slow, req()); got != want {
			t.Fatalf("body %q:\n row path:   %s\n Arrow path: %s", body, got, want)
		}
	})
}
