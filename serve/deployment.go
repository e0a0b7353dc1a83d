package serve

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Request is one call to a deployment, from the HTTP or gRPC ingress or
// from a DeploymentHandle. The handler must not keep Body (or Payload)
// after it returns.
type Request struct {
	Method string // "POST", "GET", ...; gRPC Predict calls are "POST"
	// Path is the request path below the deployment's route prefix,
	// starting with "/".
	Path   string
	Query  url.Values  // nil when there is none
	Header http.Header // never nil from an ingress; may be nil from a handle
	Body   []byte
	// Payload carries a Go value between deployments in one process
	// (model composition through a DeploymentHandle); ingresses leave it nil.
	Payload any
}

// Response is a deployment's answer.
type Response struct {
	Status      int    // 0 means 200
	ContentType string // empty means application/json
	Header      http.Header
	Body        []byte
	// Payload carries a Go value back to a DeploymentHandle caller; the
	// ingresses ignore it.
	Payload any
}

// SizeBytes reports the response's size to the core object store.
func (r *Response) SizeBytes() int64 { return int64(len(r.Body)) + 64 }

// Handler is the request-serving half of a deployment: one per replica,
// made by the Deployment's New. ServeRequest may be called concurrently,
// up to the deployment's MaxOngoingRequests at once.
//
// A Handler may also implement
//
//	CheckHealth(ctx context.Context) error // called every HealthCheckPeriod; an error replaces the replica
//	Close() error                          // called once when the replica stops
type Handler interface {
	ServeRequest(ctx context.Context, req *Request) (*Response, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

// ServeRequest calls f.
func (f HandlerFunc) ServeRequest(ctx context.Context, req *Request) (*Response, error) {
	return f(ctx, req)
}

// HealthChecker is implemented by handlers with their own health check.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// ReplicaContext is what a replica's constructor knows about itself and
// its application.
type ReplicaContext struct {
	Deployment string // the deployment's name
	ReplicaID  string // unique within the server, e.g. "bc#3"
	Version    int    // 1 for the first deployment, +1 per Redeploy
	UserConfig any    // the Deployment's UserConfig
	server     *Server
}

// Handle returns a handle on another deployment of the same application,
// for model composition. Calls go through that deployment's router, so
// they are load-balanced, queued and limited like ingress requests.
func (rc *ReplicaContext) Handle(name string) (*DeploymentHandle, error) {
	if rc == nil || rc.server == nil {
		return nil, fmt.Errorf("%w: replica context has no server", ErrInvalidInput)
	}
	return rc.server.Handle(name)
}

// Autoscaling makes a deployment's replica count follow its load: the
// number of ongoing plus queued requests, averaged over LookBackPeriod,
// divided by TargetOngoingRequests, clamped to [MinReplicas, MaxReplicas].
// A change is applied once it has been wanted for UpscaleDelay (up) or
// DownscaleDelay (down).
type Autoscaling struct {
	MinReplicas           int           // may be 0: the first request then starts a replica
	MaxReplicas           int           // >= max(MinReplicas, 1)
	InitialReplicas       int           // replicas at start; 0 means max(MinReplicas, 1)
	TargetOngoingRequests float64       // default 2
	UpscaleDelay          time.Duration // default 30s
	DownscaleDelay        time.Duration // default 10m
	LookBackPeriod        time.Duration // default 30s
}

// Deployment describes one served model or piece of business logic: a Go
// type built by New once per replica, answering requests with its
// ServeRequest. Zero fields take the defaults below.
type Deployment struct {
	// Name identifies the deployment (letters, digits, '_', '-', '.').
	Name string
	// RoutePrefix is where the HTTP ingress serves it, e.g. "/bc"; empty
	// means not served over HTTP (reachable by gRPC and handles only).
	RoutePrefix string
	// New builds one replica's handler. Required.
	New func(ctx context.Context, rc *ReplicaContext) (Handler, error)
	// NumReplicas is the fixed replica count (default 1); ignored when
	// Autoscaling is set.
	NumReplicas int
	// MaxOngoingRequests caps the requests one replica serves at once
	// (default 5); more wait in the deployment's queue.
	MaxOngoingRequests int
	// MaxQueuedRequests caps the queue (default, or -1: no cap). Past it
	// requests fail with ErrOverloaded (HTTP 503 with Retry-After).
	MaxQueuedRequests int
	// Autoscaling, when set, replaces NumReplicas.
	Autoscaling *Autoscaling
	// HealthCheckPeriod is how often each replica is checked (default 10s).
	HealthCheckPeriod time.Duration
	// HealthCheckTimeout fails a check that takes longer (default 30s).
	HealthCheckTimeout time.Duration
	// GracefulShutdownTimeout bounds how long a stopping replica may take
	// to finish its ongoing requests (default 20s).
	GracefulShutdownTimeout time.Duration
	// RequestTimeout bounds one request, queueing included; 0 uses the
	// server's HTTPOptions.RequestTimeout.
	RequestTimeout time.Duration
	// UserConfig is handed to New through ReplicaContext.
	UserConfig any
}

// Defaults.
const (
	DefaultPort                    = 8000
	DefaultMaxOngoingRequests      = 5
	DefaultHealthCheckPeriod       = 10 * time.Second
	DefaultHealthCheckTimeout      = 30 * time.Second
	DefaultGracefulShutdownTimeout = 20 * time.Second
	DefaultTargetOngoingRequests   = 2
	DefaultUpscaleDelay            = 30 * time.Second
	DefaultDownscaleDelay          = 10 * time.Minute
	DefaultLookBackPeriod          = 30 * time.Second
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// withDefaults returns d with zero fields filled in.
func (d Deployment) withDefaults() Deployment {
	if d.NumReplicas == 0 {
		d.NumReplicas = 1
	}
	if d.MaxOngoingRequests == 0 {
		d.MaxOngoingRequests = DefaultMaxOngoingRequests
	}
	if d.MaxQueuedRequests == 0 {
		d.MaxQueuedRequests = -1
	}
	if d.HealthCheckPeriod == 0 {
		d.HealthCheckPeriod = DefaultHealthCheckPeriod
	}
	if d.HealthCheckTimeout == 0 {
		d.HealthCheckTimeout = DefaultHealthCheckTimeout
	}
	if d.GracefulShutdownTimeout == 0 {
		d.GracefulShutdownTimeout = DefaultGracefulShutdownTimeout
	}
	if d.Autoscaling != nil {
		a := *d.Autoscaling
		if a.TargetOngoingRequests == 0 {
			a.TargetOngoingRequests = DefaultTargetOngoingRequests
		}
		if a.UpscaleDelay == 0 {
			a.UpscaleDelay = DefaultUpscaleDelay
		}
		if a.DownscaleDelay == 0 {
			a.DownscaleDelay = DefaultDownscaleDelay
		}
		if a.LookBackPeriod == 0 {
			a.LookBackPeriod = DefaultLookBackPeriod
		}
		if a.InitialReplicas == 0 {
			a.InitialReplicas = max(a.MinReplicas, 1)
		}
		d.Autoscaling = &a
	}
	return d
}

// Validate reports the first bad field of d, naming it.
func (d Deployment) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: deployment %q: %s: %s", ErrInvalidInput, d.Name, field, fmt.Sprintf(format, args...))
	}
	if d.Name == "" {
		return fmt.Errorf("%w: deployment: Name is empty", ErrInvalidInput)
	}
	if !nameRE.MatchString(d.Name) {
		return bad("Name", "%q may hold only letters, digits, '_', '-' and '.'", d.Name)
	}
	if d.RoutePrefix != "" {
		if !strings.HasPrefix(d.RoutePrefix, "/") {
			return bad("RoutePrefix", "%q must start with '/'", d.RoutePrefix)
		}
		if d.RoutePrefix != "/" && strings.HasSuffix(d.RoutePrefix, "/") {
			return bad("RoutePrefix", "%q must not end with '/'", d.RoutePrefix)
		}
		if strings.HasPrefix(d.RoutePrefix, "/-/") || d.RoutePrefix == "/-" || d.RoutePrefix == "/metrics" {
			return bad("RoutePrefix", "%q is reserved for the server's own endpoints", d.RoutePrefix)
		}
		if strings.ContainsAny(d.RoutePrefix, "{}*?#% ") {
			return bad("RoutePrefix", "%q holds a character not allowed in a route", d.RoutePrefix)
		}
	}
	if d.New == nil {
		return bad("New", "is nil; a deployment needs a constructor")
	}
	if d.NumReplicas < 0 {
		return bad("NumReplicas", "must be >= 0, got %d", d.NumReplicas)
	}
	if d.MaxOngoingRequests < 0 {
		return bad("MaxOngoingRequests", "must be >= 1, got %d", d.MaxOngoingRequests)
	}
	if d.MaxQueuedRequests < -1 {
		return bad("MaxQueuedRequests", "must be >= -1 (-1: no limit), got %d", d.MaxQueuedRequests)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"HealthCheckPeriod", d.HealthCheckPeriod},
		{"HealthCheckTimeout", d.HealthCheckTimeout},
		{"GracefulShutdownTimeout", d.GracefulShutdownTimeout},
		{"RequestTimeout", d.RequestTimeout},
	} {
		if f.v < 0 {
			return bad(f.name, "must not be negative, got %v", f.v)
		}
	}
	if a := d.Autoscaling; a != nil {
		switch {
		case a.MinReplicas < 0:
			return bad("Autoscaling.MinReplicas", "must be >= 0, got %d", a.MinReplicas)
		case a.MaxReplicas < 1:
			return bad("Autoscaling.MaxReplicas", "must be >= 1, got %d", a.MaxReplicas)
		case a.MaxReplicas < a.MinReplicas:
			return bad("Autoscaling.MaxReplicas", "%d is below MinReplicas %d", a.MaxReplicas, a.MinReplicas)
		case a.InitialReplicas < 0 || a.InitialReplicas > a.MaxReplicas ||
			(a.InitialReplicas > 0 && a.InitialReplicas < a.MinReplicas):
			return bad("Autoscaling.InitialReplicas", "%d is outside [MinReplicas %d, MaxReplicas %d]",
				a.InitialReplicas, a.MinReplicas, a.MaxReplicas)
		case a.TargetOngoingRequests < 0:
			return bad("Autoscaling.TargetOngoingRequests", "must be > 0, got %v", a.TargetOngoingRequests)
		case a.UpscaleDelay < 0:
			return bad("Autoscaling.UpscaleDelay", "must not be negative, got %v", a.UpscaleDelay)
		case a.DownscaleDelay < 0:
			return bad("Autoscaling.DownscaleDelay", "must not be negative, got %v", a.DownscaleDelay)
		case a.LookBackPeriod < 0:
			return bad("Autoscaling.LookBackPeriod", "must not be negative, got %v", a.LookBackPeriod)
		}
	}
	return nil
}

// App is a set of deployments served together.
type App struct {
	Deployments []Deployment
}

// NewApp groups deployments into an application.
func NewApp(deployments ...Deployment) *App {
	return &App{Deployments: deployments}
}

// Validate checks every deployment and that names and route prefixes are
// unique.
func (a *App) Validate() error {
	if a == nil || len(a.Deployments) == 0 {
		return fmt.Errorf("%w: app has no deployments", ErrInvalidInput)
	}
	names := map[string]bool{}
	routes := map[string]string{}
	for i, d := range a.Deployments {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("deployments[%d]: %w", i, err)
		}
		if names[d.Name] {
			return fmt.Errorf("%w: deployments[%d]: Name %q is used twice", ErrInvalidInput, i, d.Name)
		}
		names[d.Name] = true
		if d.RoutePrefix != "" {
			if other, dup := routes[d.RoutePrefix]; dup {
				return fmt.Errorf("%w: deployments[%d] (%q): RoutePrefix %q is already used by %q",
					ErrInvalidInput, i, d.Name, d.RoutePrefix, other)
			}
			routes[d.RoutePrefix] = d.Name
		}
	}
	return nil
}
