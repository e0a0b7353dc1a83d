// Package clusterpb holds the control plane of a goray cluster: the
// Head service (the control store: nodes, jobs and their binaries, actors,
// a key-value store), the Node service every node runs, and the Worker
// service of every process that runs a job's code.
//
// cluster.proto is the source; cluster.pb.go and cluster_grpc.pb.go are
// generated from it and checked in. Regenerate with go generate
// ./core/clusterpb; make verify-gen fails when the checked-in code is stale.
package clusterpb

//go:generate bash gen.sh
