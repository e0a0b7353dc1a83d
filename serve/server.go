package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// AnyPort asks for an ephemeral port (HTTPOptions.Port, GRPCOptions.Port).
const AnyPort = -1

// DefaultGRPCPort is the gRPC ingress port when GRPCOptions.Port is 0.
const DefaultGRPCPort = 9000

// HTTPOptions configures the HTTP ingress.
type HTTPOptions struct {
	Host string // default "127.0.0.1"
	Port int    // 0 means DefaultPort (8000); AnyPort picks a free one
	// RequestTimeout bounds each request, queueing included, unless its
	// deployment sets its own; 0 means none. Timed-out requests get 504.
	RequestTimeout time.Duration
	// MaxBodyBytes caps a request body (default 1 MiB); larger ones get 413.
	MaxBodyBytes int64
	// ShutdownTimeout bounds the graceful shutdown of Run (default 30s).
	ShutdownTimeout time.Duration
}

// DefaultMaxBodyBytes is HTTPOptions.MaxBodyBytes's default.
const DefaultMaxBodyBytes = 1 << 20

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	return o
}

func (o HTTPOptions) validate() error {
	switch {
	case o.Port < AnyPort || o.Port > 65535:
		return fmt.Errorf("%w: HTTPOptions.Port %d is not a port", ErrInvalidInput, o.Port)
	case o.RequestTimeout < 0:
		return fmt.Errorf("%w: HTTPOptions.RequestTimeout must not be negative", ErrInvalidInput)
	case o.MaxBodyBytes < 0:
		return fmt.Errorf("%w: HTTPOptions.MaxBodyBytes must not be negative", ErrInvalidInput)
	}
	return nil
}

// GRPCOptions configures the gRPC ingress (see WithGRPC).
type GRPCOptions struct {
	Host string // default: the HTTP host
	Port int    // 0 means DefaultGRPCPort (9000); AnyPort picks a free one
}

// Option configures Start and Run.
type Option func(*options)

type options struct {
	grpc          *GRPCOptions
	log           *slog.Logger
	controlPeriod time.Duration
	startReplica  func(ctx context.Context, d *Deployment, rc *ReplicaContext) (replicaConn, error)
}

// WithGRPC also serves the deployments over gRPC (servepb.PredictService).
func WithGRPC(o GRPCOptions) Option { return func(c *options) { c.grpc = &o } }

// WithLogger sets the logger for replica and autoscaling events.
func WithLogger(l *slog.Logger) Option { return func(c *options) { c.log = l } }

// WithControlPeriod sets how often controllers sample load for autoscaling
// and look for due health checks (default 100ms).
func WithControlPeriod(d time.Duration) Option { return func(c *options) { c.controlPeriod = d } }

// Server serves an App. Make one with Start; stop it with Shutdown (or
// Close).
type Server struct {
	opts       HTTPOptions
	o          options
	log        *slog.Logger
	metrics    *metrics
	deps       map[string]*deploymentState
	order      []*deploymentState
	replicaSeq atomic.Int64

	httpSrv  *http.Server
	httpLn   net.Listener
	grpcSrv  *grpc.Server
	grpcLn   net.Listener
	wg       sync.WaitGroup // serve loops and controllers
	serveErr chan error     // first error of a serve loop

	shutOnce sync.Once
	shutErr  error
}

// Run serves app until ctx is done, then shuts down gracefully: it stops
// accepting connections, lets in-flight requests finish (within
// ShutdownTimeout) and stops every replica. Use signal.NotifyContext for
// Ctrl-C.
func Run(ctx context.Context, app *App, httpOpts HTTPOptions, opts ...Option) error {
	s, err := Start(ctx, app, httpOpts, opts...)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.serveErr:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, s.Shutdown(sctx))
}

// Start deploys app, waits until every deployment has its initial replicas
// (ctx bounds the wait), then serves it over HTTP (and gRPC with WithGRPC)
// in the background.
func Start(ctx context.Context, app *App, httpOpts HTTPOptions, opts ...Option) (*Server, error) {
	if err := app.Validate(); err != nil {
		return nil, err
	}
	if err := httpOpts.validate(); err != nil {
		return nil, err
	}
	s := &Server{opts: httpOpts.withDefaults(), metrics: newMetrics(), deps: map[string]*deploymentState{},
		serveErr: make(chan error, 2)}
	s.o = options{log: slog.Default(), controlPeriod: 100 * time.Millisecond, startReplica: startActorReplica}
	for _, o := range opts {
		o(&s.o)
	}
	if s.o.controlPeriod <= 0 {
		return nil, fmt.Errorf("%w: control period must be positive", ErrInvalidInput)
	}
	s.log = s.o.log.With("component", "serve")

	for i := range app.Deployments {
		d := app.Deployments[i].withDefaults()
		ds := newDeploymentState(s, &d)
		ds.metrics = s.metrics.forDeployment(ds)
		s.deps[d.Name] = ds
		s.order = append(s.order, ds)
	}
	for _, ds := range s.order {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ds.run()
		}()
	}
	// Deploy everything at once (composed deployments may call each other
	// from their constructors), then wait for all.
	errs := make(chan error, len(s.order))
	for i, ds := range s.order {
		d := app.Deployments[i].withDefaults()
		go func() { errs <- ds.redeploy(ctx, &d) }()
	}
	var startErr error
	for range s.order {
		startErr = errors.Join(startErr, <-errs)
	}
	if startErr != nil {
		s.stopDeployments()
		return nil, startErr
	}
	if err := s.listen(); err != nil {
		s.stopDeployments()
		return nil, err
	}
	return s, nil
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", hostPort(s.opts.Host, s.opts.Port))
	if err != nil {
		return fmt.Errorf("serve: HTTP listen: %w", err)
	}
	s.httpLn = ln
	s.httpSrv = &http.Server{Handler: s.router(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if g := s.o.grpc; g != nil {
		host := g.Host
		if host == "" {
			host = s.opts.Host
		}
		port := g.Port
		if port == 0 {
			port = DefaultGRPCPort
		}
		gln, err := net.Listen("tcp", hostPort(host, port))
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: gRPC listen: %w", err)
		}
		s.grpcLn = gln
		s.grpcSrv = newGRPCServer(s)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.grpcSrv.Serve(gln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.serveErr <- fmt.Errorf("serve: gRPC: %w", err)
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("serve: HTTP: %w", err)
		}
	}()
	s.log.Info("serving", "http", ln.Addr().String(), "grpc", s.GRPCAddr(), "deployments", len(s.order))
	return nil
}

func hostPort(host string, port int) string {
	if port == AnyPort {
		port = 0
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Addr is the HTTP ingress's address, e.g. "127.0.0.1:8000".
func (s *Server) Addr() string { return s.httpLn.Addr().String() }

// GRPCAddr is the gRPC ingress's address, or "" without WithGRPC.
func (s *Server) GRPCAddr() string {
	if s.grpcLn == nil {
		return ""
	}
	return s.grpcLn.Addr().String()
}

// Handle returns a handle on the named deployment.
func (s *Server) Handle(name string) (*DeploymentHandle, error) {
	ds, ok := s.deps[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return &DeploymentHandle{ds: ds}, nil
}

// Redeploy rolls the deployment named d.Name to d with no failed request:
// it starts a replica of the new version, then takes an old one out of
// rotation once its ongoing requests finish, one at a time. It returns
// once every replica runs the new version; if a new replica fails to
// start, the deployment stays on (or returns to) the old version and the
// error is returned. Route prefix changes are not supported.
func (s *Server) Redeploy(ctx context.Context, d Deployment) error {
	if err := d.Validate(); err != nil {
		return err
	}
	ds, ok := s.deps[d.Name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, d.Name)
	}
	if d.RoutePrefix != ds.route {
		return fmt.Errorf("%w: deployment %q: RoutePrefix cannot change on redeploy (%q -> %q)",
			ErrInvalidInput, d.Name, ds.route, d.RoutePrefix)
	}
	d = d.withDefaults()
	return ds.redeploy(ctx, &d)
}

// Status reports every deployment, in the App's order.
func (s *Server) Status() []DeploymentStatus {
	out := make([]DeploymentStatus, 0, len(s.order))
	for _, ds := range s.order {
		out = append(out, ds.getStatus())
	}
	return out
}

// Shutdown stops the server gracefully: no new connections, in-flight
// requests (queued ones included) finish, then replicas stop. If ctx ends
// first, remaining connections are closed. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		var errs []error
		var gwg sync.WaitGroup
		if s.grpcSrv != nil {
			gwg.Add(1)
			go func() {
				defer gwg.Done()
				stopped := make(chan struct{})
				go func() { s.grpcSrv.GracefulStop(); close(stopped) }()
				select {
				case <-stopped:
				case <-ctx.Done():
					s.grpcSrv.Stop()
					<-stopped
				}
			}()
		}
		if s.httpSrv != nil {
			if err := s.httpSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("serve: HTTP shutdown: %w", err))
				s.httpSrv.Close()
			}
		}
		gwg.Wait()
		s.stopDeployments()
		s.shutErr = errors.Join(errs...)
	})
	return s.shutErr
}

// Close stops the server at once: open connections are closed and
// replicas stopped.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Shutdown(ctx)
}

func (s *Server) stopDeployments() {
	var wg sync.WaitGroup
	for _, ds := range s.order {
		wg.Add(1)
		go func() { defer wg.Done(); ds.stop() }()
	}
	wg.Wait()
	s.wg.Wait()
}

// router builds the HTTP routes: the server's own endpoints and one
// sub-router per routed deployment.
func (s *Server) router() http.Handler {
	r := chi.NewRouter()
	// Unknown paths and methods answer JSON, like every other error.
	r.NotFound(s.notFound)
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		// Only the server's own GET endpoints reach here: deployment
		// routes take every method and answer for themselves.
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use GET", r.Method, r.URL.Path))
	})
	r.Get("/-/healthz", s.healthz)
	r.Get("/-/routes", s.routes)
	r.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	for _, ds := range s.order {
		if ds.route == "" {
			continue
		}
		h := &httpIngress{s: s, ds: ds, prefix: strings.TrimSuffix(ds.route, "/")}
		if ds.route == "/" {
			r.Handle("/*", h)
			continue
		}
		r.Handle(ds.route, h)
		r.Handle(ds.route+"/*", h)
	}
	return r
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	var bad []string
	for _, ds := range s.order {
		st := ds.getStatus()
		if st.Replicas == 0 && st.TargetReplicas > 0 {
			bad = append(bad, fmt.Sprintf("deployment %q has no healthy replica", st.Name))
		}
	}
	if len(bad) > 0 {
		writeError(w, http.StatusServiceUnavailable, strings.Join(bad, "; "))
		return
	}
	io.WriteString(w, "success")
}

// notFound answers a path no deployment serves, listing the routes.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var routes []string
	for _, ds := range s.order {
		if ds.route != "" {
			routes = append(routes, fmt.Sprintf("%s (%s)", ds.route, ds.name))
		}
	}
	msg := fmt.Sprintf("no route for %q", r.URL.Path)
	if len(routes) > 0 {
		msg += "; deployments are served at " + strings.Join(routes, ", ")
	}
	writeError(w, http.StatusNotFound, msg)
}

func (s *Server) routes(w http.ResponseWriter, _ *http.Request) {
	routes := map[string]string{}
	for _, ds := range s.order {
		if ds.route != "" {
			routes[ds.route] = ds.name
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(routes)
}

// httpIngress serves one deployment's route.
type httpIngress struct {
	s      *Server
	ds     *deploymentState
	prefix string
}

func (h *httpIngress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	if t := h.timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var resp *Response
	body, err := readBody(r, h.s.opts.MaxBodyBytes)
	if err == nil {
		path := strings.TrimPrefix(r.URL.Path, h.prefix)
		if path == "" || path[0] != '/' {
			path = "/"
		}
		req := &Request{Method: r.Method, Path: path, Header: r.Header, Body: body}
		if r.URL.RawQuery != "" {
			req.Query = r.URL.Query()
		}
		resp, err = h.ds.call(ctx, req)
	}
	code := writeResponse(w, resp, err)
	h.ds.metrics.observe(protoHTTP, code, err, time.Since(start))
}

func (h *httpIngress) timeout() time.Duration {
	if t := h.ds.cur.Load().timeout; t > 0 {
		return t
	}
	return h.s.opts.RequestTimeout
}

// readBody reads the whole body, refusing more than limit bytes with 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, badRequest("reading request body: %v", err)
		}
		return buf, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("reading request body: %v", err)
	}
	if int64(len(buf)) > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", limit)
	}
	return buf, nil
}

// writeResponse writes resp, or err as {"error": "..."}; it returns the
// status written.
func writeResponse(w http.ResponseWriter, resp *Response, err error) int {
	if err != nil {
		code, msg := statusOf(err)
		if code == 499 {
			return code
		}
		var se *Error
		if errors.As(err, &se) {
			for k, v := range se.Header {
				w.Header()[k] = v
			}
		}
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, code, msg)
		return code
	}
	hdr := w.Header()
	for k, v := range resp.Header {
		hdr[k] = v
	}
	if resp.ContentType == "" {
		hdr["Content-Type"] = jsonContentType
	} else {
		hdr["Content-Type"] = []string{resp.ContentType}
	}
	code := resp.Status
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	w.Write(resp.Body)
	return code
}

// jsonContentType is shared by every JSON answer: header values are only
// read once set (an Add would reallocate: its capacity is 1).
var jsonContentType = []string{"application/json"}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// sortedNames lists deployment names, for messages.
func (s *Server) sortedNames() []string {
	names := make([]string, 0, len(s.deps))
	for n := range s.deps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
