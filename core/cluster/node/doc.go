// Package node is the daemon every node of a goray cluster runs (Ray's
// raylet): goray start --address HOST:PORT runs one, and the head process
// runs one of its own. It registers with the head and reports its load
// every beat, accounts the node's resources, starts worker processes from
// a job's binary (fetched once from the head by its SHA-256, cached, and
// checked again when the worker registers), and runs the tasks and actors
// sent to it in those workers: clusterpb.Node, plus grpc.health.v1.
//
// A worker process runs the job's own executable in worker mode (core.Init
// serves tasks instead of returning); the node kills a job's workers when
// the head reports the job finished, and fails the tasks of a worker that
// dies so that their owners retry them.
package node
