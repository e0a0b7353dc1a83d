package serve

import (
	"context"
	"sync"
	"testing"

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
