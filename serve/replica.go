package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/goray/goray/core"
)

// replicaConn is how the router and controller talk to one replica.
type replicaConn interface {
	// call serves one request; errors from the handler come back as they
	// were returned, a crash as ErrReplicaFailed. done is called once,
	// when the replica has finished with req: before call returns, or
	// after, when the request's deadline passed while the handler ran on.
	call(ctx context.Context, req *Request, done func()) (*Response, error)
	checkHealth(ctx context.Context) error
	// stop closes the handler (if it is an io.Closer) and ends the replica.
	stop(ctx context.Context)
	// dead reports whether err from call or checkHealth means the replica
	// is gone and must be replaced.
	dead(err error) bool
}

// A replica is a core actor holding the deployment's Handler. The actor
// runs the constructor, the health checks and Close; requests, which in
// one process would only pass through its mailbox, call the handler
// directly from the ingress goroutine (actorConn.call), with the actor's
// crash semantics: a panic kills the replica, the request that panicked
// fails with ErrReplicaFailed, and later ones are refused as not served.

type replicaSpec struct {
	newHandler func(ctx context.Context, rc *ReplicaContext) (Handler, error)
	rc         *ReplicaContext
	// inst is set by the constructor, before the actor is ready: the
	// instance that requests call directly.
	inst *replicaActor
}

type replicaActor struct {
	h  Handler
	rc *ReplicaContext
	// life is the actor's context: done once the actor is dead (killed,
	// crashed, or the runtime shut down).
	life context.Context
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
		s.inst = &replicaActor{h: h, rc: s.rc, life: ctx}
		return s.inst, nil
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
	h       *core.ActorHandle[*replicaActor]
	inst    *replicaActor
	running sync.WaitGroup // handler calls, those past their deadline included
}

// startActorReplica starts a replica actor and waits for its constructor.
func startActorReplica(ctx context.Context, d *Deployment, rc *ReplicaContext) (replicaConn, error) {
	spec := &replicaSpec{newHandler: d.New, rc: rc}
	// Requests do not go through the mailbox: room for health checks and
	// the close call.
	h, err := replicaClass.Options(
		core.MaxConcurrency(2),
		core.MaxRestarts(0),
		core.MaxTaskRetries(0),
	).Remote(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := h.Ready(ctx); err != nil {
		_ = core.Kill(h)
		return nil, unwrapTaskError(err)
	}
	if spec.inst == nil { // cannot happen: Ready succeeded, so the constructor did
		_ = core.Kill(h)
		return nil, fmt.Errorf("%w: replica %s has no instance", ErrReplicaFailed, rc.ReplicaID)
	}
	return &actorConn{h: h, inst: spec.inst}, nil
}

// call serves req on the calling goroutine; a request with a deadline
// runs on a goroutine of its own, so that it is answered on time even if
// the handler ignores its context (its slot stays taken until the handler
// returns).
func (c *actorConn) call(ctx context.Context, req *Request, done func()) (*Response, error) {
	if err := ctx.Err(); err != nil {
		done()
		return nil, err
	}
	if r := c.inst; r.life.Err() != nil {
		done()
		return nil, fmt.Errorf("%w: replica %s has stopped: %w", ErrReplicaFailed, r.rc.ReplicaID, errNotServed)
	}
	c.running.Add(1)
	if _, ok := ctx.Deadline(); !ok {
		defer done()
		defer c.running.Done()
		return c.serve(ctx, req)
	}
	type answer struct {
		resp *Response
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		resp, err := c.serve(ctx, req)
		c.running.Done()
		done()
		ch <- answer{resp, err}
	}()
	select {
	case a := <-ch:
		return a.resp, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serve runs the handler, turning a panic into the replica's death.
func (c *actorConn) serve(ctx context.Context, req *Request) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			// As the actor would: a crash ends the replica (MaxRestarts 0).
			_ = core.Kill(c.h)
			resp, err = nil, fmt.Errorf("%w: panic: %v", ErrReplicaFailed, p)
		}
	}()
	resp, err = c.inst.h.ServeRequest(ctx, req)
	if err == nil && resp == nil {
		resp = &Response{}
	}
	return resp, err
}

func (c *actorConn) checkHealth(ctx context.Context) error {
	ref := replicaCheck.Remote(ctx, c.h, ctx)
	_, err := core.Get(ctx, ref)
	ref.Release()
	return unwrapTaskError(err)
}

func (c *actorConn) stop(ctx context.Context) {
	// Close only once no handler call runs (or ctx ends).
	idle := make(chan struct{})
	go func() {
		c.running.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-ctx.Done():
	}
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
