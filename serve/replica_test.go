package serve

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// Requests call the replica's handler without the actor's mailbox, but a
// replica whose actor is dead is never called again: its requests go to
// another replica, none fails, and the dead one is replaced.
func TestDeadReplicaActorIsNotCalled(t *testing.T) {
	var mu sync.Mutex
	served := map[string]int{}
	d := Deployment{Name: "pair", RoutePrefix: "/pair", NumReplicas: 2, MaxOngoingRequests: 4,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			id := rc.ReplicaID
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				mu.Lock()
				served[id]++
				mu.Unlock()
				return &Response{Body: []byte(`"` + id + `"`)}, nil
			}), nil
		}}
	s := testServer(t, NewApp(d))
	ds := s.deps["pair"]
	ds.router.mu.Lock()
	victim := ds.router.replicas[0]
	ds.router.mu.Unlock()
	if err := core.Kill(victim.conn.(*actorConn).h); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := served[victim.id]
	mu.Unlock()

	c := client(t)
	for i := range 50 {
		if r := post(t, c, "http://"+s.Addr()+"/pair", "x"); r.code != 200 {
			t.Fatalf("request %d: %d %s", i, r.code, r.body)
		}
	}
	mu.Lock()
	after := served[victim.id]
	mu.Unlock()
	if after != before {
		t.Fatalf("the dead replica %s served %d requests after its actor was killed", victim.id, after-before)
	}
	h, _ := s.Handle("pair")
	eventually(t, "the dead replica to be replaced", func() bool {
		st := h.Status()
		if st.Replicas != 2 || st.Starting != 0 {
			return false
		}
		ds.router.mu.Lock()
		defer ds.router.mu.Unlock()
		for _, r := range ds.router.replicas {
			if r == victim {
				return false
			}
		}
		return true
	})
}

// RequestTimeout answers 504 on time even if the handler ignores its
// context; the handler's slot stays taken until it returns, and the
// replica is not closed under it.
func TestRequestTimeoutWithHandlerIgnoringContext(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	var closed, running atomic.Int32
	d := Deployment{Name: "stubborn", RoutePrefix: "/stubborn", NumReplicas: 1, MaxOngoingRequests: 1,
		RequestTimeout: 50 * time.Millisecond,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			return &stubborn{release: release, entered: entered, running: &running, closed: &closed}, nil
		}}
	s := testServer(t, NewApp(d))
	c := client(t)
	got := make(chan result, 1)
	go func() { got <- post(t, c, "http://"+s.Addr()+"/stubborn", "") }()
	<-entered
	select {
	case r := <-got:
		if r.code != http.StatusGatewayTimeout {
			t.Fatalf("got %d %s, want 504", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("no answer while the handler is still running: the timeout waited for the handler")
	}
	h, _ := s.Handle("stubborn")
	if st := h.Status(); st.Ongoing != 1 {
		t.Errorf("ongoing = %d while the timed-out handler still runs, want 1", st.Ongoing)
	}
	close(release)
	eventually(t, "the handler to return", func() bool { return running.Load() == 0 && h.Status().Ongoing == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if closed.Load() != 1 {
		t.Fatalf("Close called %d times", closed.Load())
	}
}

type stubborn struct {
	release         chan struct{}
	entered         chan struct{}
	running, closed *atomic.Int32
}

func (s *stubborn) ServeRequest(ctx context.Context, req *Request) (*Response, error) {
	s.running.Add(1)
	defer s.running.Add(-1)
	s.entered <- struct{}{}
	<-s.release // ignores ctx
	return &Response{}, nil
}

func (s *stubborn) Close() error {
	if s.running.Load() != 0 {
		panic("Close while a request runs")
	}
	s.closed.Add(1)
	return nil
}
