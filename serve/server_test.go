package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// echo answers with the request's method, path and body.
func echo(prefix string) Deployment {
	return Deployment{
		Name:        "echo",
		RoutePrefix: prefix,
		NumReplicas: 2,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				b, _ := json.Marshal(map[string]string{"method": req.Method, "path": req.Path, "body": string(req.Body), "replica": rc.ReplicaID})
				return &Response{Body: b}, nil
			}), nil
		},
	}
}

func TestServeRoutesAndOps(t *testing.T) {
	s := testServer(t, NewApp(echo("/echo")))
	c := client(t)
	base := "http://" + s.Addr()

	r := post(t, c, base+"/echo/a/b?x=1", "hello")
	if r.code != 200 {
		t.Fatalf("POST /echo/a/b: %d %s", r.code, r.body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got["path"] != "/a/b" || got["body"] != "hello" || got["method"] != "POST" {
		t.Errorf("echo = %v", got)
	}
	if r := post(t, c, base+"/echo", ""); r.code != 200 || !strings.Contains(r.body, `"path":"/"`) {
		t.Errorf("POST /echo: %d %s", r.code, r.body)
	}
	if r := get(t, c, base+"/-/healthz"); r.code != 200 || r.body != "success" {
		t.Errorf("healthz: %d %q", r.code, r.body)
	}
	if r := get(t, c, base+"/-/routes"); r.code != 200 || strings.TrimSpace(r.body) != `{"/echo":"echo"}` {
		t.Errorf("routes: %d %q", r.code, r.body)
	}
	if r := get(t, c, base+"/nope"); r.code != 404 {
		t.Errorf("GET /nope: %d", r.code)
	}
	m := get(t, c, base+"/metrics")
	for _, want := range []string{
		`goray_serve_requests_total{code="200",deployment="echo",protocol="http"} 2`,
		`goray_serve_request_duration_seconds_bucket{deployment="echo",protocol="http"`,
		`goray_serve_queue_depth{deployment="echo"} 0`,
		`goray_serve_replicas{deployment="echo"} 2`,
	} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestPowerOfTwoUsesAllReplicas(t *testing.T) {
	s := testServer(t, NewApp(echo("/echo")))
	c := client(t)
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var fails atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				r := post(t, c, "http://"+s.Addr()+"/echo", "x")
				if r.code != http.StatusOK {
					fails.Add(1)
					continue
				}
				var got map[string]string
				json.Unmarshal([]byte(r.body), &got)
				mu.Lock()
				seen[got["replica"]]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fails.Load() > 0 {
		t.Fatalf("%d requests failed", fails.Load())
	}
	if len(seen) != 2 {
		t.Errorf("requests reached replicas %v, want both", seen)
	}
}
