package serve

import "context"

// DeploymentHandle calls a deployment in-process: from another
// deployment's replica (model composition, see ReplicaContext.Handle) or
// from the program that started the server (Server.Handle). Calls are
// routed, queued and limited like ingress requests; Request.Payload and
// Response.Payload may carry Go values.
type DeploymentHandle struct {
	ds *deploymentState
}

// Name is the deployment's name.
func (h *DeploymentHandle) Name() string { return h.ds.name }

// Call sends req to one of the deployment's replicas and returns its
// answer. The deployment's RequestTimeout applies. A nil Request is an
// empty POST.
func (h *DeploymentHandle) Call(ctx context.Context, req *Request) (*Response, error) {
	if req == nil {
		req = &Request{Method: "POST", Path: "/"}
	}
	if t := h.ds.cur.Load().timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return h.ds.call(ctx, req)
}

// Status is a snapshot of the deployment.
func (h *DeploymentHandle) Status() DeploymentStatus { return h.ds.getStatus() }
