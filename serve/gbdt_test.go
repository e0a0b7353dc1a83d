package serve

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/serve/servepb"
	"github.com/goray/goray/train/gbdt"
)

// The real model: a GBDT on the breast cancer rows, served over HTTP and
// gRPC, answers bit for bit what its predictor answers in-process.
func TestGBDTPredictorDeployment(t *testing.T) {
	names, rows := bcData(t)
	cols := make([][]float64, len(names))
	labels := make([]float64, len(rows))
	for i, r := range rows {
		labels[i] = float64(i % 2)
		for j := range names {
			cols[j] = append(cols[j], r[j])
		}
	}
	m, err := gbdt.NewMatrix(names, cols, labels)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gbdt.Train(t.Context(), m, nil, gbdt.Params{"objective": "binary:logistic", "max_depth": 3, "min_child_weight": 0}, 10)
	if err != nil {
		t.Fatal(err)
	}
	feats := make([]checkpoint.Feature, len(names))
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
	}
	ckpt, err := b.SaveCheckpoint(t.TempDir(), gbdt.WithInputFeatures(feats))
	if err != nil {
		t.Fatal(err)
	}
	pred, err := gbdt.NewPredictor(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	want := predictRows(t, pred, rows)

	d := PredictorDeployment(ckpt, gbdt.PredictorFactory, nil)
	d.Name, d.RoutePrefix = "bc", "/bc"
	s := testServer(t, NewApp(d), WithGRPC(GRPCOptions{Port: AnyPort}))
	r := post(t, client(t), "http://"+s.Addr()+"/bc", columnarJSON(names, rows))
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	checkEqual(t, "HTTP", decodePredictions(t, r.body), want)

	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gr, err := servepb.NewPredictServiceClient(conn).Predict(t.Context(),
		&servepb.PredictRequest{Deployment: "bc", Body: []byte(recordsJSON(names, rows))})
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "gRPC", decodePredictions(t, string(gr.Body)), want)
}
