package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/goray/goray/core"
)

// replicaConn is how the router and controller talk to one replica.
type replicaConn interface {
	// call serves one request; errors from the handler come back as they
	// were returned, a crash as ErrReplicaFailed.
	call(ctx context.Context, req *Request) (*Response, error)
	checkHealth(ctx context.Context) error
	// stop closes the handler (if it is an io.Closer) and ends the replica.
	stop(ctx context.Context)
	// dead reports whether err from call or checkHealth means the replica
	// is gone and must be replaced.
	dead(err error) bool
}

// A replica is a core actor holding the deployment's Handler.

type replicaSpec struct {
	newHandler func(ctx context.Context, rc *ReplicaContext) (Handler, error)
	rc         *ReplicaContext
}

type replicaActor struct {
	h  Handler
	rc *ReplicaContext
}

// replicaCall carries the caller's context to the handler: in one process
// core passes values without copying, so the handler sees the request's
// deadline and cancellation.
type replicaCall struct {
	ctx     context.Context
	req     *Request
	started atomic.Bool // set when the handler is entered
}

// errNotServed marks a failure before the handler saw the request: the
// replica was already dead, so another replica may safely take it.
var errNotServed = errors.New("replica gone before serving the request")

var (
	replicaClass = core.Actor1("serve.Replica", func(ctx context.Context, s *replicaSpec) (*replicaActor, error) {
		h, err := s.newHandler(ctx, s.rc)
		if err != nil {
			return nil, err
		}
		if h == nil {
			return nil, fmt.Errorf("deployment %q: New returned a nil Handler", s.rc.Deployment)
		}
		return &replicaActor{h: h, rc: s.rc}, nil
	}, core.LocalOnly())
	replicaServe = core.Method1("serve.Replica.ServeRequest", func(r *replicaActor, _ context.Context, c *replicaCall) (*Response, error) {
		c.started.Store(true)
		resp, err := r.h.ServeRequest(c.ctx, c.req)
		if err == nil && resp == nil {
			resp = &Response{}
		}
		return resp, err
	}, core.LocalOnly())
	replicaCheck = core.Method1("serve.Replica.CheckHealth", func(r *replicaActor, _ context.Context, ctx context.Context) (struct{}, error) {
		if hc, ok := r.h.(HealthChecker); ok {
			return struct{}{}, hc.CheckHealth(ctx)
		}
		return struct{}{}, nil
	}, core.LocalOnly())
	replicaClose = core.Method0("serve.Replica.Close", func(r *replicaActor, _ context.Context) (struct{}, error) {
		if c, ok := r.h.(io.Closer); ok {
			return struct{}{}, c.Close()
		}
		return struct{}{}, nil
	})
)

type actorConn struct {
	h *core.ActorHandle[*replicaActor]
}

// startActorReplica starts a replica actor and waits for its constructor.
func startActorReplica(ctx context.Context, d *Deployment, rc *ReplicaContext) (replicaConn, error) {
	// Room for one health check and the close call beside the requests.
	h, err := replicaClass.Options(
		core.MaxConcurrency(d.MaxOngoingRequests+2),
		core.MaxRestarts(0),
		core.MaxTaskRetries(0),
	).Remote(ctx, &replicaSpec{newHandler: d.New, rc: rc})
	if err != nil {
		return nil, err
	}
	if err := h.Ready(ctx); err != nil {
		_ = core.Kill(h)
		return nil, unwrapTaskError(err)
	}
	return &actorConn{h: h}, nil
}

func (c *actorConn) call(ctx context.Context, req *Request) (*Response, error) {
	rc := &replicaCall{ctx: ctx, req: req}
	ref := replicaServe.Remote(ctx, c.h, rc)
	resp, err := core.Get(ctx, ref)
	ref.Release()
	if err != nil {
		err = unwrapTaskError(err)
		if errors.Is(err, ErrReplicaFailed) && !rc.started.Load() {
			err = fmt.Errorf("%w: %w", err, errNotServed)
		}
		return nil, err
	}
	return resp, nil
}

func (c *actorConn) checkHealth(ctx context.Context) error {
	ref := replicaCheck.Remote(ctx, c.h, ctx)
	_, err := core.Get(ctx, ref)
	ref.Release()
	return unwrapTaskError(err)
}

func (c *actorConn) stop(ctx context.Context) {
	ref := replicaClose.Remote(ctx, c.h)
	_, _ = core.Get(ctx, ref)
	ref.Release()
	_ = core.Kill(c.h)
}

func (c *actorConn) dead(err error) bool {
	return errors.Is(err, ErrReplicaFailed)
}

// unwrapTaskError turns core's errors back into what the handler returned,
// and crashes or dead actors into ErrReplicaFailed.
func unwrapTaskError(err error) error {
	if err == nil {
		return nil
	}
	var te *core.TaskError
	if errors.As(err, &te) && te.Panic == nil && te.Cause != nil && errors.Is(err, core.ErrTaskFailed) {
		return te.Cause
	}
	if errors.Is(err, core.ErrActorDied) || errors.Is(err, core.ErrWorkerCrashed) {
		if errors.As(err, &te) && te.Panic != nil {
			return fmt.Errorf("%w: panic: %v", ErrReplicaFailed, te.Panic)
		}
		return fmt.Errorf("%w: %w", ErrReplicaFailed, err)
	}
	return err
}
