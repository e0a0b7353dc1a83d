package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/serve/servepb"
)

func recordsJSON(names []string, rows [][]float64) string {
	recs := make([]map[string]float64, len(rows))
	for i, r := range rows {
		recs[i] = map[string]float64{}
		for j, n := range names {
			recs[i][n] = r[j]
		}
	}
	b, _ := json.Marshal(recs)
	return string(b)
}

func columnarJSON(names []string, rows [][]float64) string {
	b, _ := json.Marshal(map[string]any{"columns": names, "data": rows})
	return string(b)
}

func predictorApp(t *testing.T) (*App, []string, [][]float64, []float64) {
	ckpt := linearCheckpoint(t, t.TempDir(), 1)
	d := PredictorDeployment(ckpt, linearFactory, nil)
	d.Name, d.RoutePrefix, d.NumReplicas = "bc", "/bc", 2
	names, rows := bcData(t)
	pred, err := linearFactory(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	return NewApp(d), names, rows, predictRows(t, pred, rows)
}

func decodePredictions(t *testing.T, body string) []float64 {
	t.Helper()
	var out struct {
		Predictions []float64 `json:"predictions"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return out.Predictions
}

func TestPredictorHTTPAndGRPCMatchPredictor(t *testing.T) {
	app, names, rows, want := predictorApp(t)
	s := testServer(t, app, WithGRPC(GRPCOptions{Port: AnyPort}))
	c := client(t)
	url := "http://" + s.Addr() + "/bc"

	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gc := servepb.NewPredictServiceClient(conn)

	for name, body := range map[string]string{
		"records":  recordsJSON(names, rows),
		"columnar": columnarJSON(names, rows),
	} {
		r := post(t, c, url, body)
		if r.code != 200 {
			t.Fatalf("%s: %d %s", name, r.code, r.body)
		}
		checkEqual(t, "HTTP "+name, decodePredictions(t, r.body), want)

		gr, err := gc.Predict(t.Context(), &servepb.PredictRequest{Deployment: "bc", Body: []byte(body)})
		if err != nil {
			t.Fatalf("gRPC %s: %v", name, err)
		}
		checkEqual(t, "gRPC "+name, decodePredictions(t, string(gr.Body)), want)
	}
	// One bare record is one row.
	one := recordsJSON(names, rows[:1])
	r := post(t, c, url, one[1:len(one)-1])
	if r.code != 200 {
		t.Fatalf("single record: %d %s", r.code, r.body)
	}
	checkEqual(t, "single record", decodePredictions(t, r.body), want[:1])

	if r := get(t, c, url); r.code != 200 || !strings.Contains(r.body, `"mean radius"`) {
		t.Errorf("GET model info: %d %s", r.code, r.body)
	}
}

func checkEqual(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d predictions, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: prediction %d = %v, want %v (bit-exact)", what, i, got[i], want[i])
		}
	}
}

func TestPredictorBadRequests(t *testing.T) {
	app, names, rows, _ := predictorApp(t)
	s := testServer(t, app, WithGRPC(GRPCOptions{Port: AnyPort}))
	c := client(t)
	url := "http://" + s.Addr() + "/bc"
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gc := servepb.NewPredictServiceClient(conn)

	good := recordsJSON(names, rows[:2])
	missing := strings.Replace(good, `"mean radius":`, `"mean radiuss":`, 1)
	wrongType := strings.Replace(good, `"mean texture":10.38`, `"mean texture":"abc"`, 1)
	oneRec := func(v string) string {
		return "[{" + strings.Join(func() []string {
			var kv []string
			for j, n := range names {
				val := strconv.FormatFloat(rows[0][j], 'g', -1, 64)
				if j == 3 {
					val = v
				}
				kv = append(kv, strconv.Quote(n)+":"+val)
			}
			return kv
		}(), ",") + "}]"
	}
	huge := "[" + strings.Repeat(" ", DefaultMaxBodyBytes) + "]"

	for _, tc := range []struct {
		name, body string
		code       int
		grpcCode   codes.Code
		msg        string
	}{
		{"empty body", "", 400, codes.InvalidArgument, "empty request body"},
		{"whitespace body", "  \n", 400, codes.InvalidArgument, "empty request body"},
		{"malformed JSON", `[{"mean radius": 1.0,`, 400, codes.InvalidArgument, "malformed JSON"},
		{"trailing garbage", good + "x", 400, codes.InvalidArgument, "unexpected data after the JSON value"},
		{"not JSON", "mean radius=3", 400, codes.InvalidArgument, "malformed JSON at byte 0"},
		{"unknown feature", missing, 400, codes.InvalidArgument, `unknown feature "mean radiuss"`},
		{"missing feature", `[{"mean radius": 1}]`, 400, codes.InvalidArgument, `row 0: missing feature "mean texture"`},
		{"wrong type string", wrongType, 400, codes.InvalidArgument, `row 0: feature "mean texture": expected a number (float64), got a string "abc"`},
		{"wrong type object", oneRec("{\"a\": [1,\n 2]}"), 400, codes.InvalidArgument, `feature "mean area": expected a number (float64), got an object {"a": [1,  2]}`},
		{"wrong type long string", oneRec(`"` + strings.Repeat("x", 40) + `"`), 400, codes.InvalidArgument, `feature "mean area": expected a number (float64), got a string "` + strings.Repeat("x", 23) + `..."`},
		{"wrong type bool", oneRec("true"), 400, codes.InvalidArgument, `feature "mean area": expected a number (float64), got a boolean`},
		{"null", oneRec("null"), 400, codes.InvalidArgument, `feature "mean area": null`},
		{"NaN literal", oneRec("NaN"), 400, codes.InvalidArgument, "malformed JSON"},
		{"out of range", oneRec("1e400"), 400, codes.InvalidArgument, `feature "mean area": number 1e400 is out of range`},
		{"empty list", "[]", 400, codes.InvalidArgument, "no records"},
		{"not a list", `"hello"`, 400, codes.InvalidArgument, "expected a JSON array of records or an object"},
		{"list of numbers", `[1, 2]`, 400, codes.InvalidArgument, "row 0: expected a JSON object"},
		{"columnar short row", `{"columns": ` + mustJSON(names) + `, "data": [[1, 2]]}`, 400, codes.InvalidArgument, "data[0]: 2 values; expected 30"},
		{"columnar missing column", `{"columns": ["mean radius"], "data": [[1]]}`, 400, codes.InvalidArgument, `columns: missing feature "mean texture"`},
		{"columnar no data", `{"columns": ` + mustJSON(names) + `}`, 400, codes.InvalidArgument, `lacks "data"`},
		{"oversized body", huge, 413, codes.InvalidArgument, "exceeds the limit of 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, c, url, tc.body)
			if r.code != tc.code {
				t.Fatalf("HTTP status %d, want %d (body %s)", r.code, tc.code, r.body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("HTTP error %q, want it to contain %q", r.body, tc.msg)
			}
			_, err := gc.Predict(t.Context(), &servepb.PredictRequest{Deployment: "bc", Body: []byte(tc.body)})
			st, _ := status.FromError(err)
			if st.Code() != tc.grpcCode || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("gRPC error %v %q, want %v containing %q", st.Code(), st.Message(), tc.grpcCode, tc.msg)
			}
		})
	}

	if r := get(t, c, url+"/nope"); r.code != 404 {
		t.Errorf("GET /bc/nope: %d", r.code)
	}
	req, _ := newRequest("DELETE", url)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("DELETE: %d, want 405", resp.StatusCode)
	}
	_, err = gc.Predict(t.Context(), &servepb.PredictRequest{Deployment: "nope", Body: []byte(good)})
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), `"nope"`) {
		t.Errorf("unknown deployment: %v", err)
	}
	// Bad input never counts as a server error.
	m := get(t, c, "http://"+s.Addr()+"/metrics")
	if strings.Contains(m.body, `code="500"`) {
		t.Errorf("a bad request was answered 500:\n%s", m.body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestCustomAdapter(t *testing.T) {
	// A text adapter: one row per line, values separated by spaces, in
	// feature order; it reuses the JSON checks by building columnar JSON.
	text := func(req *Request, in *InputSchema) (arrowRecord, error) {
		var rows [][]json.RawMessage
		for _, line := range strings.Split(strings.TrimSpace(string(req.Body)), "\n") {
			var row []json.RawMessage
			for _, f := range strings.Fields(line) {
				row = append(row, json.RawMessage(f))
			}
			rows = append(rows, row)
		}
		names := make([]string, len(in.Features))
		for i, f := range in.Features {
			names[i] = f.Name
		}
		b, err := json.Marshal(map[string]any{"columns": names, "data": rows})
		if err != nil {
			return nil, Errorf(400, "bad text input: %v", err)
		}
		return in.DecodeJSON(b)
	}
	ckpt := linearCheckpoint(t, t.TempDir(), 1)
	d := PredictorDeployment(ckpt, linearFactory, text)
	d.Name, d.RoutePrefix = "text", "/text"
	s := testServer(t, NewApp(d))
	_, rows := bcData(t)
	pred, _ := linearFactory(ckpt)
	want := predictRows(t, pred, rows[:3])
	var sb strings.Builder
	for _, r := range rows[:3] {
		for j, v := range r {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		sb.WriteByte('\n')
	}
	c := client(t)
	r := post(t, c, "http://"+s.Addr()+"/text", sb.String())
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	checkEqual(t, "text adapter", decodePredictions(t, r.body), want)
	if r := post(t, c, "http://"+s.Addr()+"/text", "1 2 3\n"); r.code != 400 || !strings.Contains(r.body, "data[0]: 3 values; expected 30") {
		t.Errorf("short text row: %d %s", r.code, r.body)
	}
}

// Rolling a PredictorDeployment to a new checkpoint under continuous load
// fails no request, and afterwards only the new model answers.
func TestPredictorRedeployNewCheckpoint(t *testing.T) {
	dir := t.TempDir()
	v1 := linearCheckpoint(t, dir+"/v1", 1)
	v2 := linearCheckpoint(t, dir+"/v2", 2)
	names, rows := bcData(t)
	p1, _ := linearFactory(v1)
	p2, _ := linearFactory(v2)
	want1, want2 := predictRows(t, p1, rows[:1])[0], predictRows(t, p2, rows[:1])[0]
	deploy := func(ckpt *checkpoint.Checkpoint) Deployment {
		d := PredictorDeployment(ckpt, linearFactory, nil)
		d.Name, d.RoutePrefix, d.NumReplicas = "bc", "/bc", 2
		return d
	}
	s := testServer(t, NewApp(deploy(v1)))
	c := client(t)
	body := recordsJSON(names, rows[:1])
	var mu sync.Mutex
	var failed []string
	got := map[float64]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := post(t, c, "http://"+s.Addr()+"/bc", body)
				mu.Lock()
				if r.code != 200 {
					failed = append(failed, r.body)
				} else {
					var out struct{ Predictions []float64 }
					json.Unmarshal([]byte(r.body), &out)
					got[out.Predictions[0]]++
				}
				mu.Unlock()
			}
		}()
	}
	eventually(t, "answers from the first checkpoint", func() bool { mu.Lock(); defer mu.Unlock(); return got[want1] > 20 })
	if err := s.Redeploy(t.Context(), deploy(v2)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := got[want2]
	mu.Unlock()
	eventually(t, "answers from the new checkpoint", func() bool { mu.Lock(); defer mu.Unlock(); return got[want2] > before+20 })
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d requests failed during the redeploy, e.g. %s", len(failed), failed[0])
	}
	if len(got) != 2 || got[want1] == 0 {
		t.Errorf("answers %v, want only %v (v1) then %v (v2)", got, want1, want2)
	}
	r := post(t, c, "http://"+s.Addr()+"/bc", body)
	if p := decodePredictions(t, r.body); p[0] != want2 {
		t.Errorf("after the redeploy: %v, want %v", p[0], want2)
	}
}

// A chunked body (no Content-Length) over the limit is refused too.
func TestOversizedChunkedBody(t *testing.T) {
	app, _, _, _ := predictorApp(t)
	s := testServer(t, app)
	big := strings.NewReader("[" + strings.Repeat(" ", DefaultMaxBodyBytes+10) + "]")
	req, err := http.NewRequest("POST", "http://"+s.Addr()+"/bc", struct{ io.Reader }{big})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), "exceeds the limit") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
