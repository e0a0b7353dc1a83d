package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray/goray/serve/servepb"
)

// grpcIngress serves servepb.PredictService: every deployment, by name,
// with the bodies and checks of the HTTP ingress.
type grpcIngress struct {
	servepb.UnimplementedPredictServiceServer
	s *Server
}

var _ servepb.PredictServiceServer = (*grpcIngress)(nil)

func newGRPCServer(s *Server) *grpc.Server {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(int(max(4<<20, s.opts.MaxBodyBytes+64<<10))))
	servepb.RegisterPredictServiceServer(g, &grpcIngress{s: s})
	return g
}

// Predict implements servepb.PredictServiceServer.
func (g *grpcIngress) Predict(ctx context.Context, in *servepb.PredictRequest) (*servepb.PredictResponse, error) {
	start := time.Now()
	ds, ok := g.s.deps[in.GetDeployment()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no deployment named %q (have: %s)",
			in.GetDeployment(), strings.Join(g.s.sortedNames(), ", "))
	}
	if t := g.timeout(ds); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	resp, err := g.call(ctx, ds, in)
	code := http.StatusOK
	if err != nil {
		code, _ = statusOf(err)
	} else if resp.Status != 0 {
		code = resp.Status
	}
	ds.metrics.observe(protoGRPC, code, err, time.Since(start))
	if err != nil {
		return nil, grpcError(code, err)
	}
	if code >= 400 {
		return nil, status.Error(grpcCode(code), errorMessage(code, resp.Body))
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "application/json"
	}
	return &servepb.PredictResponse{Body: resp.Body, ContentType: ct}, nil
}

func (g *grpcIngress) call(ctx context.Context, ds *deploymentState, in *servepb.PredictRequest) (*Response, error) {
	if limit := g.s.opts.MaxBodyBytes; int64(len(in.GetBody())) > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d bytes", len(in.GetBody()), limit)
	}
	hdr := http.Header{}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for k, v := range md {
			if !strings.HasPrefix(k, ":") {
				hdr[http.CanonicalHeaderKey(k)] = v
			}
		}
	}
	for k, v := range in.GetMetadata() {
		hdr.Set(k, v)
	}
	ct := in.GetContentType()
	if ct == "" {
		ct = "application/json"
	}
	hdr.Set("Content-Type", ct)
	path := in.GetPath()
	if path == "" {
		path = "/"
	} else if path[0] != '/' {
		path = "/" + path
	}
	return ds.call(ctx, &Request{Method: http.MethodPost, Path: path, Header: hdr, Body: in.GetBody()})
}

func (g *grpcIngress) timeout(ds *deploymentState) time.Duration {
	if t := ds.cur.Load().timeout; t > 0 {
		return t
	}
	return g.s.opts.RequestTimeout
}

// grpcError turns an error into a gRPC status with the code nearest its
// HTTP status and the message the HTTP ingress would show.
func grpcError(code int, err error) error {
	_, msg := statusOf(err)
	return status.Error(grpcCode(code), msg)
}

// grpcCode maps an HTTP status to a gRPC code.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusConflict:
		return codes.Aborted
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return codes.DeadlineExceeded
	}
	switch {
	case httpStatus >= 400 && httpStatus < 500:
		return codes.FailedPrecondition
	case httpStatus >= 500:
		return codes.Internal
	}
	return codes.Unknown
}

// errorMessage extracts the message of an error body: {"error": "..."}
// or the body as text.
func errorMessage(code int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	if msg == "" {
		return "deployment answered HTTP status " + strconv.Itoa(code)
	}
	return msg
}
