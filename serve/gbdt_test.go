package serve

import (
	"os"
	"slices"
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
	// The model (10 trees) was trained by gbdt.Train on these rows and
	// saved with Booster.SaveLightGBM; it is loaded rather than trained
	// here to keep the test fast.
	names, rows := bcData(t)
	model, err := os.ReadFile("testdata/bc_gbdt_lightgbm.txt")
	if err != nil {
		t.Fatal(err)
	}
	feats := make([]checkpoint.Feature, len(names))
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
	}
	ckpt, err := gbdt.CheckpointFromModel(t.TempDir(), gbdt.FormatLightGBM, model,
		gbdt.WithFeatureNames(names), gbdt.WithInputFeatures(feats))
	if err != nil {
		t.Fatal(err)
	}
	pred, err := gbdt.NewPredictor(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	want := predictRows(t, pred, rows)
	if slices.Min(want) == slices.Max(want) {
		t.Fatalf("the model answers %v for every row; the comparison would prove little", want[0])
	}

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
