// Package serve serves models and business logic over HTTP (chi) and gRPC,
// Ray Serve style, on the goray runtime.
//
// A Deployment is a Go type built once per replica by its New function and
// answering requests with ServeRequest. Replicas are core actors, which
// build the handler, run its health checks and close it; requests call
// the handler directly from the ingress goroutine (in one process the
// actor's mailbox would only add two goroutine hand-offs; a request with
// a RequestTimeout gets a goroutine of its own, so that its 504 comes on
// time even from a handler that ignores its context, whose slot stays
// taken until it returns), and a panic still kills the replica. In front
// of them each deployment has a router that sends a request to the less loaded of two
// random replicas, queues it when every replica is at MaxOngoingRequests,
// and refuses it with 503 and Retry-After past MaxQueuedRequests. A
// controller goroutine per deployment replaces replicas that panic or fail
// their health check, autoscales between MinReplicas and MaxReplicas on
// ongoing+queued requests, and rolls out new versions (Server.Redeploy)
// one replica at a time, letting old replicas finish what they are
// serving, so no request fails.
//
// The first call is usually PredictorDeployment plus Run:
//
//	ckpt, _ := checkpoint.FromDirectory("ckpt/bc")
//	d := serve.PredictorDeployment(ckpt, gbdt.PredictorFactory, nil)
//	d.Name, d.RoutePrefix, d.NumReplicas = "bc", "/bc", 2
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//	defer stop()
//	err := serve.Run(ctx, serve.NewApp(d), serve.HTTPOptions{Port: 8000},
//		serve.WithGRPC(serve.GRPCOptions{Port: 9000}))
//
// then
//
//	curl -d '[{"mean radius": 17.99, ...}]' localhost:8000/bc   # {"predictions":[0.01]}
//
// A PredictorDeployment checks each request against the feature names and
// types recorded in the checkpoint: malformed JSON, an empty body, a
// missing, unknown or duplicated feature, a value of the wrong type and an
// oversized body are answered 4xx with {"error": "..."} naming the row,
// the feature and the problem, never 500. Other payloads go through an
// Adapter. A gbdt model (gbdt.PredictorFactory with the JSON adapter,
// float64 features, one output, no preprocessor or StandardScalers) scores
// requests of up to 64 rows on a row path that builds no Arrow record and
// answers the same bytes as the Arrow path.
//
// Besides the deployments' routes the HTTP ingress serves /-/healthz,
// /-/routes and Prometheus /metrics (requests by code, latency histogram,
// queue depth, ongoing requests, replicas, errors by kind, replica
// failures). WithGRPC adds servepb.PredictService on its own port, routing
// by deployment name to the same replicas with the same checks.
//
// LoadConfig reads the same application from YAML (goray serve run
// serve.yaml); see Config.
//
// Model composition: a replica's constructor gets a ReplicaContext whose
// Handle returns a DeploymentHandle on another deployment of the app;
// Batch groups concurrent calls into one model call.
package serve
