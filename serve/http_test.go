package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/goray/goray/serve/servepb"
)

// send makes one request with an optional Content-Type (none if ct is "").
func send(t *testing.T, c *http.Client, method, url, ct, body string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, body: string(b), hdr: resp.Header}
}

// jsonError is the "error" of a JSON error answer, or fails the test.
func jsonError(t *testing.T, what string, r result) string {
	t.Helper()
	var e struct{ Error string }
	if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json (body %q)", what, ct, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" {
		t.Fatalf("%s: answer %q is not a JSON error", what, r.body)
	}
	return e.Error
}

// TestPredictorContentTypesAndMethods: the predictor only reads JSON (415
// otherwise), only POST predicts (405 with Allow otherwise), and unknown
// paths and methods answer JSON errors.
func TestPredictorContentTypesAndMethods(t *testing.T) {
	app, names, rows, want := predictorApp(t)
	s := testServer(t, app, WithGRPC(GRPCOptions{Port: AnyPort}))
	c := client(t)
	base := "http://" + s.Addr()
	good := recordsJSON(names, rows[:2])

	for _, tc := range []struct{ name, ct string }{
		{"json", "application/json"},
		{"json with charset", "application/json; charset=utf-8"},
		{"vendor json", "application/vnd.goray+json"},
		{"no content type", ""},
	} {
		r := send(t, c, "POST", base+"/bc", tc.ct, good)
		if r.code != 200 {
			t.Fatalf("%s: %d %s", tc.name, r.code, r.body)
		}
		checkEqual(t, tc.name, decodePredictions(t, r.body), want[:2])
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/csv", "not a type"} {
		r := send(t, c, "POST", base+"/bc", ct, good)
		if r.code != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d %s, want 415", ct, r.code, r.body)
			continue
		}
		if msg := jsonError(t, ct, r); !strings.Contains(msg, "application/json") || !strings.Contains(msg, ct) {
			t.Errorf("Content-Type %q: message %q names neither the type nor application/json", ct, msg)
		}
	}

	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		r := send(t, c, m, base+"/bc", "application/json", good)
		if r.code != http.StatusMethodNotAllowed || r.hdr.Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("%s: %d Allow=%q %s, want 405 with Allow: GET, HEAD, POST", m, r.code, r.hdr.Get("Allow"), r.body)
			continue
		}
		if msg := jsonError(t, m, r); !strings.Contains(msg, "method "+m+" not allowed") {
			t.Errorf("%s: message %q", m, msg)
		}
	}

	r := send(t, c, "GET", base+"/nope", "", "")
	if r.code != 404 {
		t.Fatalf("GET /nope: %d %s", r.code, r.body)
	}
	if msg := jsonError(t, "GET /nope", r); !strings.Contains(msg, `no route for "/nope"`) || !strings.Contains(msg, "/bc (bc)") {
		t.Errorf("GET /nope: message %q should name the path and the routes", msg)
	}
	r = send(t, c, "POST", base+"/-/healthz", "", "")
	if r.code != 405 || r.hdr.Get("Allow") != "GET" {
		t.Fatalf("POST /-/healthz: %d Allow=%q %s", r.code, r.hdr.Get("Allow"), r.body)
	}
	jsonError(t, "POST /-/healthz", r)

	// gRPC carries the content type in the request; JSON is the default.
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gc := servepb.NewPredictServiceClient(conn)
	if _, err := gc.Predict(t.Context(), &servepb.PredictRequest{Deployment: "bc", Body: []byte(good)}); err != nil {
		t.Errorf("gRPC with the default content type: %v", err)
	}
	_, err = gc.Predict(t.Context(), &servepb.PredictRequest{Deployment: "bc", Body: []byte(good), ContentType: "text/plain"})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), `"text/plain"`) {
		t.Errorf("gRPC text/plain: %v", err)
	}
}

// TestClientDisconnectMetrics: a client that goes away mid-request is
// counted as client_closed, not as a bad request.
func TestClientDisconnectMetrics(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	d := Deployment{Name: "slow", RoutePrefix: "/slow", New: func(context.Context, *ReplicaContext) (Handler, error) {
		return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
			if string(req.Body) == "wait" {
				started <- struct{}{}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-release:
				}
			}
			return &Response{Body: []byte(`{}`)}, nil
		}), nil
	}}
	s := testServer(t, NewApp(d))
	t.Cleanup(func() { close(release) })
	c := client(t)
	base := "http://" + s.Addr()

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/slow", bytes.NewBufferString("wait"))
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the request never reached the replica")
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	eventually(t, "the disconnect to be counted", func() bool {
		return strings.Contains(get(t, c, base+"/metrics").body, `goray_serve_errors_total{deployment="slow",kind="client_closed"} 1`)
	})
	if m := get(t, c, base+"/metrics").body; strings.Contains(m, `kind="bad_request"`) {
		t.Errorf("a client disconnect was counted as a bad request:\n%s", m)
	}
}
