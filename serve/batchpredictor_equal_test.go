package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/serve/servepb"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

const breastCancerCSV = "../train/gbdt/testdata/breast_cancer.csv"

// A model scored offline with BatchPredictor and the same model served
// over HTTP and gRPC answer the same rows with the same predictions, bit
// for bit.
func TestServedPredictionsEqualBatchPredictor(t *testing.T) {
	// The runtime is shared by the package's tests; TestMain shuts it down
	// and then checks for leaked goroutines.
	if err := core.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	ds, err := data.ReadCSV(ctx, breastCancerCSV)
	if err != nil {
		t.Fatal(err)
	}
	recs := collect(t, ctx, ds)
	names, rows := featureRows(t, recs)
	m, err := gbdt.MatrixFromRecords(recs, "target", names)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gbdt.Train(ctx, m, nil, gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": 4, "eta": 0.3}, 30)
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := b.SaveCheckpoint(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	// Offline: BatchPredictor over the CSV without its label.
	bp, err := train.BatchPredictorFromCheckpoint(ckpt, gbdt.PredictorFactory)
	if err != nil {
		t.Fatal(err)
	}
	out, err := bp.Predict(ctx, ds.DropColumns("target"), train.PredictOptions{BatchSize: 100, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for _, r := range collect(t, ctx, out) {
		want = append(want, r.Column(r.Schema().FieldIndices("predictions")[0]).(*array.Float64).Float64Values()...)
	}
	if len(want) != len(rows) {
		t.Fatalf("BatchPredictor: %d predictions for %d rows", len(want), len(rows))
	}
	if distinct(want) < 10 {
		t.Fatalf("the model gives %d distinct predictions; the comparison would prove little", distinct(want))
	}

	// Online: the same checkpoint behind HTTP and gRPC.
	d := serve.PredictorDeployment(ckpt, gbdt.PredictorFactory, nil)
	d.Name, d.RoutePrefix = "bc", "/bc"
	s, err := serve.Start(ctx, serve.NewApp(d), serve.HTTPOptions{Port: serve.AnyPort},
		serve.WithGRPC(serve.GRPCOptions{Port: serve.AnyPort}),
		serve.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gc := servepb.NewPredictServiceClient(conn)

	const chunk = 200
	var gotHTTP, gotGRPC []float64
	for lo := 0; lo < len(rows); lo += chunk {
		part := rows[lo:min(lo+chunk, len(rows))]

		body, err := json.Marshal(map[string]any{"columns": names, "data": part})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.Addr()+"/bc", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("POST rows %d..: %v", lo, err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST rows %d..: %d %s", lo, resp.StatusCode, answer)
		}
		gotHTTP = append(gotHTTP, parsePredictions(t, answer)...)

		gr, err := gc.Predict(ctx, &servepb.PredictRequest{Deployment: "bc", Body: recordsBody(t, names, part)})
		if err != nil {
			t.Fatalf("gRPC rows %d..: %v", lo, err)
		}
		gotGRPC = append(gotGRPC, parsePredictions(t, gr.Body)...)
	}
	for what, got := range map[string][]float64{"HTTP (columnar JSON)": gotHTTP, "gRPC (records JSON)": gotGRPC} {
		if len(got) != len(want) {
			t.Fatalf("%s: %d predictions, want %d", what, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: row %d: %v, BatchPredictor %v (want bit-exact)", what, i, got[i], want[i])
			}
		}
	}
}

// collect reads every batch of ds, retained; released when the test ends.
func collect(t *testing.T, ctx context.Context, ds *data.Dataset) []arrow.Record {
	t.Helper()
	var recs []arrow.Record
	for r, err := range ds.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		r.Retain()
		recs = append(recs, r)
	}
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return recs
}

// featureRows returns the feature columns' names (all but "target") and
// the rows of recs.
func featureRows(t *testing.T, recs []arrow.Record) ([]string, [][]float64) {
	t.Helper()
	var names []string
	for _, f := range recs[0].Schema().Fields() {
		if f.Name != "target" {
			names = append(names, f.Name)
		}
	}
	var rows [][]float64
	for _, r := range recs {
		base := len(rows)
		for range r.NumRows() {
			rows = append(rows, make([]float64, len(names)))
		}
		for j, name := range names {
			a := r.Column(r.Schema().FieldIndices(name)[0])
			col, ok := a.(*array.Float64)
			if !ok {
				t.Fatalf("column %q is %s, want float64", name, a.DataType())
			}
			for i, v := range col.Float64Values() {
				rows[base+i][j] = v
			}
		}
	}
	return names, rows
}

// recordsBody is rows as a JSON array of {"feature": value} objects.
func recordsBody(t *testing.T, names []string, rows [][]float64) []byte {
	t.Helper()
	recs := make([]map[string]float64, len(rows))
	for i, row := range rows {
		recs[i] = make(map[string]float64, len(names))
		for j, n := range names {
			recs[i][n] = row[j]
		}
	}
	b, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parsePredictions reads {"predictions": [...]}, each number parsed with
// strconv from the text the server wrote.
func parsePredictions(t *testing.T, body []byte) []float64 {
	t.Helper()
	var out struct {
		Predictions []json.Number `json:"predictions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	preds := make([]float64, len(out.Predictions))
	for i, s := range out.Predictions {
		v, err := strconv.ParseFloat(s.String(), 64)
		if err != nil {
			t.Fatalf("prediction %d %q: %v", i, s, err)
		}
		preds[i] = v
	}
	return preds
}

func distinct(v []float64) int {
	seen := map[float64]bool{}
	for _, x := range v {
		seen[x] = true
	}
	return len(seen)
}
