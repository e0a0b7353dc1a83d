package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate is a handler whose requests block until released, so tests can
// hold a known number of requests in flight.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1000), release: make(chan struct{})} }

func (g *gate) deployment(name string, replicas, maxOngoing, maxQueued int) Deployment {
	return Deployment{
		Name: name, RoutePrefix: "/" + name, NumReplicas: replicas,
		MaxOngoingRequests: maxOngoing, MaxQueuedRequests: maxQueued,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				g.entered <- struct{}{}
				select {
				case <-g.release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return &Response{Body: []byte(`"ok"`)}, nil
			}), nil
		},
	}
}

func TestOverloadOnlyPastQueueLimit(t *testing.T) {
	g := newGate()
	// 2 replicas x 2 ongoing = 4 in flight, plus 3 queued; the 8th fails.
	s := testServer(t, NewApp(g.deployment("slow", 2, 2, 3)))
	c := client(t)
	url := "http://" + s.Addr() + "/slow"
	h, _ := s.Handle("slow")

	results := make(chan result, 7)
	for range 7 {
		go func() { results <- post(t, c, url, "") }()
	}
	for range 4 {
		<-g.entered
	}
	eventually(t, "3 queued requests", func() bool { return h.Status().Queued == 3 })
	if st := h.Status(); st.Ongoing != 4 {
		t.Fatalf("ongoing = %d, want 4", st.Ongoing)
	}
	r := post(t, c, url, "")
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" || !strings.Contains(r.body, "overloaded") {
		t.Fatalf("8th request: %d %q (Retry-After %q), want 503 with Retry-After", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	close(g.release)
	for range 7 {
		if r := <-results; r.code != 200 {
			t.Errorf("request within the limits answered %d %s", r.code, r.body)
		}
	}
	m := get(t, c, "http://"+s.Addr()+"/metrics")
	if !strings.Contains(m.body, `goray_serve_errors_total{deployment="slow",kind="overloaded"} 1`) {
		t.Errorf("metrics lack the overloaded error:\n%s", m.body)
	}
}

func TestRequestTimeout(t *testing.T) {
	g := newGate()
	d := g.deployment("slow", 1, 1, -1)
	d.RequestTimeout = 50 * time.Millisecond
	s := testServer(t, NewApp(d))
	r := post(t, client(t), "http://"+s.Addr()+"/slow", "")
	if r.code != http.StatusGatewayTimeout || !strings.Contains(r.body, "timed out") {
		t.Fatalf("got %d %s, want 504", r.code, r.body)
	}
	close(g.release)
}

func TestPanickingReplicaIsReplaced(t *testing.T) {
	var made atomic.Int32
	d := Deployment{
		Name: "fragile", RoutePrefix: "/fragile", NumReplicas: 2, MaxOngoingRequests: 4,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			made.Add(1)
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				if string(req.Body) == "boom" {
					panic("model blew up")
				}
				return &Response{Body: []byte(`"ok"`)}, nil
			}), nil
		},
	}
	s := testServer(t, NewApp(d))
	c := client(t)
	url := "http://" + s.Addr() + "/fragile"

	var wg sync.WaitGroup
	var okCount, failed atomic.Int32
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := post(t, c, url, "fine"); r.code == 200 {
					okCount.Add(1)
				} else {
					failed.Add(1)
					t.Errorf("innocent request failed: %d %s", r.code, r.body)
				}
			}
		}()
	}
	for range 3 {
		r := post(t, c, url, "boom")
		if r.code != 500 || !strings.Contains(r.body, "replica failed") {
			t.Errorf("panicking request: %d %s, want 500 naming the replica failure", r.code, r.body)
		}
		h, _ := s.Handle("fragile")
		eventually(t, "the replica to be replaced", func() bool {
			st := h.Status()
			return st.Replicas == 2 && st.Starting == 0
		})
	}
	close(stop)
	wg.Wait()
	if made.Load() < 5 {
		t.Errorf("%d replicas made; want 2 + 3 replacements", made.Load())
	}
	if okCount.Load() == 0 || failed.Load() != 0 {
		t.Errorf("ok=%d failed=%d", okCount.Load(), failed.Load())
	}
	m := get(t, c, "http://"+s.Addr()+"/metrics")
	if !strings.Contains(m.body, `goray_serve_replica_failures_total{deployment="fragile"} 3`) {
		t.Errorf("metrics lack 3 replica failures")
	}
}

// unhealthy replicas (CheckHealth errors) are replaced too.
type flaky struct{ healthy *atomic.Bool }

func (f flaky) ServeRequest(ctx context.Context, req *Request) (*Response, error) {
	return &Response{}, nil
}

func (f flaky) CheckHealth(ctx context.Context) error {
	if f.healthy.CompareAndSwap(false, true) {
		return errors.New("lost the GPU")
	}
	return nil
}

func TestUnhealthyReplicaIsReplaced(t *testing.T) {
	var made atomic.Int32
	var healthy atomic.Bool
	healthy.Store(true)
	d := Deployment{Name: "flaky", HealthCheckPeriod: 10 * time.Millisecond,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			made.Add(1)
			return flaky{&healthy}, nil
		}}
	s := testServer(t, NewApp(d))
	healthy.Store(false)
	eventually(t, "a replacement replica", func() bool { return made.Load() == 2 })
	h, _ := s.Handle("flaky")
	eventually(t, "one replica again", func() bool { return h.Status().Replicas == 1 })
	if st := h.Status(); !strings.Contains(st.LastError, "lost the GPU") {
		t.Errorf("LastError = %q", st.LastError)
	}
}

func TestAutoscaling(t *testing.T) {
	g := newGate()
	d := g.deployment("auto", 0, 2, -1)
	d.Autoscaling = &Autoscaling{MinReplicas: 1, MaxReplicas: 4, TargetOngoingRequests: 2,
		UpscaleDelay: 30 * time.Millisecond, DownscaleDelay: 100 * time.Millisecond, LookBackPeriod: 50 * time.Millisecond}
	s := testServer(t, NewApp(d))
	h, _ := s.Handle("auto")
	if st := h.Status(); st.Replicas != 1 {
		t.Fatalf("start with %d replicas, want 1", st.Replicas)
	}
	c := client(t)
	results := make(chan result, 8)
	for range 8 { // 8 in flight / target 2 = 4 replicas
		go func() { results <- post(t, c, "http://"+s.Addr()+"/auto", "") }()
	}
	eventually(t, "scale up to 4", func() bool { return h.Status().Replicas == 4 })
	for range 8 {
		<-g.entered // every request reached a replica: none is stuck in a queue
	}
	close(g.release)
	for range 8 {
		if r := <-results; r.code != 200 {
			t.Errorf("request under load: %d %s", r.code, r.body)
		}
	}
	eventually(t, "scale back down to 1", func() bool {
		st := h.Status()
		return st.Replicas == 1 && st.TargetReplicas == 1
	})
}

func TestScaleFromZero(t *testing.T) {
	d := echo("/echo")
	d.Autoscaling = &Autoscaling{MinReplicas: 0, MaxReplicas: 2, InitialReplicas: 0,
		UpscaleDelay: time.Hour, DownscaleDelay: 20 * time.Millisecond, LookBackPeriod: 20 * time.Millisecond}
	s := testServer(t, NewApp(d))
	h, _ := s.Handle("echo")
	c := client(t)
	eventually(t, "scale to zero", func() bool { return h.Status().Replicas == 0 })
	if r := post(t, c, "http://"+s.Addr()+"/echo", "x"); r.code != 200 {
		t.Fatalf("first request at zero replicas: %d %s", r.code, r.body)
	}
	eventually(t, "back to zero", func() bool { return h.Status().Replicas == 0 })
}

func TestRollingRedeployUnderLoad(t *testing.T) {
	versioned := func(v string) Deployment {
		return Deployment{Name: "model", RoutePrefix: "/model", NumReplicas: 3, MaxOngoingRequests: 4,
			New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
				time.Sleep(5 * time.Millisecond) // loading a model takes a while
				return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
					time.Sleep(200 * time.Microsecond)
					return &Response{Body: []byte(`"` + v + `"`)}, nil
				}), nil
			}}
	}
	s := testServer(t, NewApp(versioned("v1")))
	c := client(t)
	url := "http://" + s.Addr() + "/model"

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var failed []string
	var rolledOut atomic.Bool
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := rolledOut.Load() // sent after the rollout ended
				r := post(t, c, url, "")
				mu.Lock()
				if r.code != 200 {
					failed = append(failed, fmt.Sprintf("%d %s", r.code, r.body))
				} else if after {
					seen[r.body]++
				}
				mu.Unlock()
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []string{"v2", "v3"} {
		if err := s.Redeploy(ctx, versioned(v)); err != nil {
			t.Fatalf("Redeploy %s: %v", v, err)
		}
	}
	// Requests sent after the rollout reach only v3.
	rolledOut.Store(true)
	eventually(t, "v3 answers", func() bool { mu.Lock(); defer mu.Unlock(); return seen[`"v3"`] > 20 })
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d requests failed during the rolling redeploy, e.g. %s", len(failed), failed[0])
	}
	if len(seen) != 1 {
		t.Errorf("after the rollout answers came from %v", seen)
	}
	h, _ := s.Handle("model")
	if st := h.Status(); st.Version != 3 || st.Replicas != 3 {
		t.Errorf("status %+v, want version 3 with 3 replicas", st)
	}
}

func TestRedeployFailureKeepsOldVersion(t *testing.T) {
	s := testServer(t, NewApp(echo("/echo")))
	bad := echo("/echo")
	bad.New = func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
		return nil, errors.New("checkpoint is corrupt")
	}
	err := s.Redeploy(t.Context(), bad)
	if err == nil || !strings.Contains(err.Error(), "checkpoint is corrupt") {
		t.Fatalf("Redeploy of a broken version: %v", err)
	}
	if r := post(t, client(t), "http://"+s.Addr()+"/echo", "x"); r.code != 200 {
		t.Fatalf("after the failed redeploy: %d %s", r.code, r.body)
	}
	h, _ := s.Handle("echo")
	if st := h.Status(); st.Version != 1 || st.Replicas != 2 {
		t.Errorf("status %+v, want version 1 with 2 replicas", st)
	}
}

func TestStartFailsOnBrokenConstructor(t *testing.T) {
	d := echo("/echo")
	d.New = func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
		return nil, errors.New("no model file")
	}
	_, err := Start(t.Context(), NewApp(d), HTTPOptions{Port: AnyPort})
	if err == nil || !strings.Contains(err.Error(), "no model file") {
		t.Fatalf("Start: %v", err)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	g := newGate()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, NewApp(g.deployment("slow", 1, 4, -1)), HTTPOptions{Port: AnyPort})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t)
	results := make(chan result, 3)
	for range 3 {
		go func() { results <- post(t, c, "http://"+s.Addr()+"/slow", "") }()
	}
	for range 3 {
		<-g.entered
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	// New connections are refused while the old requests finish.
	eventually(t, "listener closed", func() bool {
		_, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + s.Addr() + "/-/healthz")
		return err != nil
	})
	close(g.release)
	for range 3 {
		if r := <-results; r.code != 200 {
			t.Errorf("in-flight request: %d %s", r.code, r.body)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestComposition(t *testing.T) {
	// "double" is internal; "front" calls it through a handle.
	double := Deployment{Name: "double", NumReplicas: 2,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				return &Response{Payload: req.Payload.(int) * 2}, nil
			}), nil
		}}
	front := Deployment{Name: "front", RoutePrefix: "/",
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			h, err := rc.Handle("double")
			if err != nil {
				return nil, err
			}
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				resp, err := h.Call(ctx, &Request{Payload: len(req.Body)})
				if err != nil {
					return nil, err
				}
				return &Response{Body: []byte(fmt.Sprint(resp.Payload))}, nil
			}), nil
		}}
	s := testServer(t, NewApp(front, double))
	if r := post(t, client(t), "http://"+s.Addr()+"/anything", "12345"); r.code != 200 || r.body != "10" {
		t.Fatalf("composed answer: %d %q, want 10", r.code, r.body)
	}
	if _, err := s.Handle("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Handle(nope): %v", err)
	}
}

func TestBatch(t *testing.T) {
	var calls, maxSize atomic.Int32
	b := NewBatch(func(ctx context.Context, in []int) ([]int, error) {
		calls.Add(1)
		if int32(len(in)) > maxSize.Load() {
			maxSize.Store(int32(len(in)))
		}
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * v
		}
		return out, nil
	}, BatchOptions{MaxBatchSize: 8, BatchWaitTimeout: 20 * time.Millisecond})
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.Call(t.Context(), i)
			if err != nil || v != i*i {
				t.Errorf("Call(%d) = %d, %v", i, v, err)
			}
		}()
	}
	wg.Wait()
	if maxSize.Load() > 8 || calls.Load() >= 32 {
		t.Errorf("%d calls, largest batch %d: requests were not grouped within MaxBatchSize", calls.Load(), maxSize.Load())
	}
	b.Close()
	if _, err := b.Call(t.Context(), 1); !errors.Is(err, ErrStopped) {
		t.Errorf("Call after Close: %v", err)
	}
}

func TestValidateNamesBadField(t *testing.T) {
	ok := echo("/echo")
	for _, tc := range []struct {
		name string
		mod  func(d *Deployment)
		want string
	}{
		{"no name", func(d *Deployment) { d.Name = "" }, "Name is empty"},
		{"bad name", func(d *Deployment) { d.Name = "a b" }, "Name"},
		{"route", func(d *Deployment) { d.RoutePrefix = "echo" }, "RoutePrefix"},
		{"reserved route", func(d *Deployment) { d.RoutePrefix = "/-/x" }, "reserved"},
		{"no New", func(d *Deployment) { d.New = nil }, "New"},
		{"queue", func(d *Deployment) { d.MaxQueuedRequests = -2 }, "MaxQueuedRequests"},
		{"autoscaling", func(d *Deployment) { d.Autoscaling = &Autoscaling{MinReplicas: 3, MaxReplicas: 2} }, "Autoscaling.MaxReplicas"},
	} {
		d := ok
		tc.mod(&d)
		err := NewApp(d).Validate()
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidInput naming %s", tc.name, err, tc.want)
		}
	}
	if err := NewApp(ok, ok).Validate(); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate names: %v", err)
	}
}
