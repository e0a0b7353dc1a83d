package head

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probeEvery is how often the head checks nodes and drivers.
const probeEvery = 500 * time.Millisecond

// probe checks every live node and running job's driver with
// grpc.health.v1 Check until Stop: a node silent for NodeTimeout is
// DEAD; a job whose driver is silent that long is finished.
func (s *Server) probe() {
	defer s.wg.Done()
	conns := map[string]*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	conn := func(addr string) *grpc.ClientConn {
		if c, ok := conns[addr]; ok {
			return c
		}
		c, err := grpc.NewClient(addr, s.dial...)
		if err != nil {
			return nil
		}
		conns[addr] = c
		return c
	}
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		type target struct {
			key  string
			addr string
			job  uint32
		}
		var targets []target
		s.mu.Lock()
		for k, n := range s.nodes {
			if n.info.State == "ALIVE" {
				targets = append(targets, target{key: k, addr: n.info.Address})
			}
		}
		for id := range s.drivers {
			targets = append(targets, target{addr: s.jobs[id].DriverAddress, job: id})
		}
		s.mu.Unlock()
		ok := make([]bool, len(targets))
		var wg sync.WaitGroup
		for i, t := range targets {
			c := conn(t.addr)
			if c == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), probeEvery)
				defer cancel()
				r, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
				ok[i] = err == nil && r.Status == healthpb.HealthCheckResponse_SERVING
			}()
		}
		wg.Wait()
		now := time.Now()
		s.mu.Lock()
		for i, t := range targets {
			if t.key != "" {
				n := s.nodes[t.key]
				if n == nil || n.info.State != "ALIVE" {
					continue
				}
				if ok[i] {
					n.lastOK = now
				} else if now.Sub(n.lastOK) > s.cfg.NodeTimeout {
					n.info.State = "DEAD"
					n.info.DeathCause = fmt.Sprintf("no answer to health checks for %v", now.Sub(n.lastOK).Round(time.Millisecond))
					s.put(tNodes, t.key, n.info)
					s.nodeDiedLocked(n)
				}
				continue
			}
			last, running := s.drivers[t.job]
			if !running {
				continue
			}
			if ok[i] {
				s.drivers[t.job] = now
			} else if now.Sub(last) > s.cfg.NodeTimeout {
				s.finishLocked(t.job)
			}
		}
		s.mu.Unlock()
	}
}

// nodeDiedLocked marks the actors that ran on a dead node: their owners
// restart them or report them dead.
func (s *Server) nodeDiedLocked(n *nodeState) {
	for k, a := range s.actors {
		if a.State == "ALIVE" && string(a.NodeId) == string(n.info.NodeId) {
			a.State, a.WorkerAddress = "RESTARTING", ""
			a.DeathCause = fmt.Sprintf("node %s died: %s", n.info.Address, n.info.DeathCause)
			s.put(tActors, k, a)
		}
	}
}
