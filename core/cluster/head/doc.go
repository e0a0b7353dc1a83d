// Package head is the control store of a goray cluster (Ray's GCS), run
// by the head process (goray start --head): the tables of nodes, jobs and
// their binaries, actors and named actors, and a small key-value store,
// served over gRPC (clusterpb.Head, plus grpc.health.v1) and persisted in
// a Store (bbolt by default, Redis with --gcs-store redis://HOST:PORT) so
// that a restarted head finds the cluster again.
//
// The head probes every live node and every running job's driver with
// grpc.health.v1 Check; a node that does not answer for NodeTimeout is
// marked DEAD, and a job whose driver does not answer is finished (its
// workers are stopped on every node).
//
//	s, err := head.New(head.Config{Dir: dir, Token: token})
//	go s.Serve(lis)
//	defer s.Stop()
package head
