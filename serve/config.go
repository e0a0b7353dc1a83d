package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// Config is a serve application loaded from YAML (goray serve run
// serve.yaml). Every deployment serves a checkpoint with a predictor:
//
//	http:
//	  host: 127.0.0.1        # default
//	  port: 8000             # default
//	  request_timeout: 10s   # optional
//	  max_body_bytes: 1048576
//	grpc:                    # optional: also serve gRPC
//	  port: 9000
//	deployments:
//	  - name: breast_cancer
//	    checkpoint: ./ckpt/bc        # relative to the YAML file
//	    framework: gbdt              # optional: default is the checkpoint's
//	    route_prefix: /breast_cancer # default /<name>
//	    num_replicas: 2
//	    max_ongoing_requests: 8
//	    max_queued_requests: 100
//	    autoscaling:                 # optional; replaces num_replicas
//	      min_replicas: 1
//	      max_replicas: 4
//	      target_ongoing_requests: 2
//	      upscale_delay: 30s         # durations: "250ms", "10s", or a number of seconds
//	      downscale_delay: 10m
//
// Unknown fields are errors.
type Config struct {
	HTTP        HTTPConfig         `yaml:"http"`
	GRPC        *GRPCConfig        `yaml:"grpc"`
	Deployments []DeploymentConfig `yaml:"deployments"`

	// dir is the directory of the YAML file; relative checkpoint paths
	// are resolved against it.
	dir  string
	path string
}

// HTTPConfig is the http: section.
type HTTPConfig struct {
	Host            string   `yaml:"host"`
	Port            int      `yaml:"port"`
	RequestTimeout  Duration `yaml:"request_timeout"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// GRPCConfig is the grpc: section.
type GRPCConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
}

// DeploymentConfig is one entry of deployments:.
type DeploymentConfig struct {
	Name                    string             `yaml:"name"`
	Checkpoint              string             `yaml:"checkpoint"`
	Framework               string             `yaml:"framework"`
	RoutePrefix             string             `yaml:"route_prefix"`
	NumReplicas             int                `yaml:"num_replicas"`
	MaxOngoingRequests      int                `yaml:"max_ongoing_requests"`
	MaxQueuedRequests       int                `yaml:"max_queued_requests"`
	RequestTimeout          Duration           `yaml:"request_timeout"`
	HealthCheckPeriod       Duration           `yaml:"health_check_period"`
	HealthCheckTimeout      Duration           `yaml:"health_check_timeout"`
	GracefulShutdownTimeout Duration           `yaml:"graceful_shutdown_timeout"`
	Autoscaling             *AutoscalingConfig `yaml:"autoscaling"`
	UserConfig              map[string]any     `yaml:"user_config"`
}

// AutoscalingConfig is a deployment's autoscaling: section.
type AutoscalingConfig struct {
	MinReplicas           int      `yaml:"min_replicas"`
	MaxReplicas           int      `yaml:"max_replicas"`
	InitialReplicas       int      `yaml:"initial_replicas"`
	TargetOngoingRequests float64  `yaml:"target_ongoing_requests"`
	UpscaleDelay          Duration `yaml:"upscale_delay"`
	DownscaleDelay        Duration `yaml:"downscale_delay"`
	LookBackPeriod        Duration `yaml:"look_back_period"`
}

// Duration is a time.Duration written in YAML as "250ms", "1m30s" or a
// plain number of seconds.
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as \"10s\", got a %s", n.Line, kindName(n.Kind))
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		d.Duration = time.Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. \"500ms\", \"10s\", \"2m\", or seconds as a number)", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// LoadConfig reads and validates a serve YAML file. Errors name the file
// and the bad field (with its line for syntax and unknown fields).
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("serve config: %w", err)
	}
	cfg.path, cfg.dir = path, filepath.Dir(abs)
	return cfg, nil
}

var unknownFieldRE = regexp.MustCompile(`field (\S+) not found in type serve\.(\w+)`)

// ParseConfig parses and validates YAML; relative checkpoint paths are
// resolved against the working directory.
func ParseConfig(b []byte) (*Config, error) {
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty; it needs a deployments: list", ErrInvalidInput)
		}
		msg := unknownFieldRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
			sub := unknownFieldRE.FindStringSubmatch(m)
			return fmt.Sprintf("unknown field %q in %s (known: %s)", sub[1], sectionName(sub[2]), strings.Join(knownFields(sub[2]), ", "))
		})
		msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
		return nil, fmt.Errorf("%w: %s", ErrInvalidInput, msg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func sectionName(typ string) string {
	switch typ {
	case "Config":
		return "the top level"
	case "HTTPConfig":
		return "http"
	case "GRPCConfig":
		return "grpc"
	case "DeploymentConfig":
		return "a deployment"
	case "AutoscalingConfig":
		return "autoscaling"
	}
	return typ
}

func knownFields(typ string) []string {
	var v any
	switch typ {
	case "Config":
		v = Config{}
	case "HTTPConfig":
		v = HTTPConfig{}
	case "GRPCConfig":
		v = GRPCConfig{}
	case "DeploymentConfig":
		v = DeploymentConfig{}
	case "AutoscalingConfig":
		v = AutoscalingConfig{}
	default:
		return nil
	}
	b, _ := yaml.Marshal(v)
	var m yaml.Node
	_ = yaml.Unmarshal(b, &m)
	var out []string
	if len(m.Content) > 0 {
		for i := 0; i < len(m.Content[0].Content); i += 2 {
			out = append(out, m.Content[0].Content[i].Value)
		}
	}
	return out
}

// Validate reports the first bad field, named by its YAML path, e.g.
// "deployments[1].autoscaling.max_replicas: must be >= min_replicas (2), got 1".
func (c *Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidInput, field, fmt.Sprintf(format, args...))
	}
	if c.HTTP.Port < 0 || c.HTTP.Port > 65535 {
		return bad("http.port", "%d is not a port", c.HTTP.Port)
	}
	if c.HTTP.RequestTimeout.Duration < 0 {
		return bad("http.request_timeout", "must not be negative")
	}
	if c.HTTP.ShutdownTimeout.Duration < 0 {
		return bad("http.shutdown_timeout", "must not be negative")
	}
	if c.HTTP.MaxBodyBytes < 0 {
		return bad("http.max_body_bytes", "must not be negative")
	}
	if c.GRPC != nil {
		if c.GRPC.Port < 0 || c.GRPC.Port > 65535 {
			return bad("grpc.port", "%d is not a port", c.GRPC.Port)
		}
		if c.GRPC.Port != 0 && c.GRPC.Port == c.httpPort() && c.GRPC.Host == c.HTTP.Host {
			return bad("grpc.port", "%d is the HTTP port too", c.GRPC.Port)
		}
	}
	if len(c.Deployments) == 0 {
		return bad("deployments", "no deployments: list at least one")
	}
	names := map[string]int{}
	routes := map[string]int{}
	for i, d := range c.Deployments {
		at := fmt.Sprintf("deployments[%d]", i)
		if d.Name != "" {
			at = fmt.Sprintf("deployments[%d] (%s)", i, d.Name)
		}
		switch {
		case d.Name == "":
			return bad(at+".name", "missing")
		case !nameRE.MatchString(d.Name):
			return bad(at+".name", "%q may hold only letters, digits, '_', '-' and '.'", d.Name)
		case d.Checkpoint == "":
			return bad(at+".checkpoint", "missing: the path of the model's checkpoint directory")
		case d.NumReplicas < 0:
			return bad(at+".num_replicas", "must be >= 1, got %d", d.NumReplicas)
		case d.NumReplicas > 0 && d.Autoscaling != nil:
			return bad(at+".num_replicas", "cannot be set together with autoscaling")
		case d.MaxOngoingRequests < 0:
			return bad(at+".max_ongoing_requests", "must be >= 1, got %d", d.MaxOngoingRequests)
		case d.MaxQueuedRequests < -1:
			return bad(at+".max_queued_requests", "must be >= -1 (-1: no limit), got %d", d.MaxQueuedRequests)
		}
		if j, dup := names[d.Name]; dup {
			return bad(at+".name", "%q is also the name of deployments[%d]", d.Name, j)
		}
		names[d.Name] = i
		route := d.route()
		if err := (Deployment{Name: d.Name, RoutePrefix: route, New: func(context.Context, *ReplicaContext) (Handler, error) { return nil, nil }}).Validate(); err != nil {
			return bad(at+".route_prefix", "%q: must start with '/', not end with '/', and not use /-/ or /metrics", route)
		}
		if j, dup := routes[route]; dup {
			return bad(at+".route_prefix", "%q is also the route of deployments[%d]", route, j)
		}
		routes[route] = i
		for _, f := range []struct {
			name string
			v    Duration
		}{
			{"request_timeout", d.RequestTimeout}, {"health_check_period", d.HealthCheckPeriod},
			{"health_check_timeout", d.HealthCheckTimeout}, {"graceful_shutdown_timeout", d.GracefulShutdownTimeout},
		} {
			if f.v.Duration < 0 {
				return bad(at+"."+f.name, "must not be negative, got %v", f.v.Duration)
			}
		}
		if a := d.Autoscaling; a != nil {
			as := at + ".autoscaling"
			switch {
			case a.MinReplicas < 0:
				return bad(as+".min_replicas", "must be >= 0, got %d", a.MinReplicas)
			case a.MaxReplicas < 1:
				return bad(as+".max_replicas", "must be >= 1, got %d", a.MaxReplicas)
			case a.MaxReplicas < a.MinReplicas:
				return bad(as+".max_replicas", "must be >= min_replicas (%d), got %d", a.MinReplicas, a.MaxReplicas)
			case a.InitialReplicas < 0 || a.InitialReplicas > a.MaxReplicas || (a.InitialReplicas > 0 && a.InitialReplicas < a.MinReplicas):
				return bad(as+".initial_replicas", "must be within [min_replicas, max_replicas] = [%d, %d], got %d", a.MinReplicas, a.MaxReplicas, a.InitialReplicas)
			case a.TargetOngoingRequests < 0:
				return bad(as+".target_ongoing_requests", "must be > 0, got %v", a.TargetOngoingRequests)
			case a.UpscaleDelay.Duration < 0:
				return bad(as+".upscale_delay", "must not be negative")
			case a.DownscaleDelay.Duration < 0:
				return bad(as+".downscale_delay", "must not be negative")
			case a.LookBackPeriod.Duration < 0:
				return bad(as+".look_back_period", "must not be negative")
			}
		}
	}
	return nil
}

func (c *Config) httpPort() int {
	if c.HTTP.Port == 0 {
		return DefaultPort
	}
	return c.HTTP.Port
}

func (d DeploymentConfig) route() string {
	if d.RoutePrefix == "" {
		return "/" + d.Name
	}
	return d.RoutePrefix
}

// HTTPOptions returns the http: section as options for Run.
func (c *Config) HTTPOptions() HTTPOptions {
	return HTTPOptions{Host: c.HTTP.Host, Port: c.HTTP.Port, RequestTimeout: c.HTTP.RequestTimeout.Duration,
		MaxBodyBytes: c.HTTP.MaxBodyBytes, ShutdownTimeout: c.HTTP.ShutdownTimeout.Duration}
}

// Options returns the Run options the file asks for (gRPC).
func (c *Config) Options() []Option {
	if c.GRPC == nil {
		return nil
	}
	return []Option{WithGRPC(GRPCOptions{Host: c.GRPC.Host, Port: c.GRPC.Port})}
}

// AppFromConfig opens each deployment's checkpoint and builds a
// PredictorDeployment with the factory for its framework (the deployment's
// framework field, or else the checkpoint's), taken from factories or,
// failing that, from train's registry (train.FactoryFor). factories may be
// nil. Errors name the deployment and field.
func AppFromConfig(cfg *Config, factories map[string]train.PredictorFactory) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	app := &App{}
	for i, dc := range cfg.Deployments {
		at := fmt.Sprintf("deployments[%d] (%s)", i, dc.Name)
		path := dc.Checkpoint
		if !filepath.IsAbs(path) && cfg.dir != "" {
			path = filepath.Join(cfg.dir, path)
		}
		ckpt, err := checkpoint.FromDirectory(path)
		if err != nil {
			if errors.Is(err, ErrInvalidInput) { // a corrupt checkpoint already says so
				return nil, fmt.Errorf("%s.checkpoint: %w", at, err)
			}
			return nil, fmt.Errorf("%w: %s.checkpoint: %w", ErrInvalidInput, at, err)
		}
		fw := dc.Framework
		if fw == "" {
			fw = ckpt.Metadata().Framework
		}
		factory := factories[fw]
		if factory == nil {
			// Fall back on the frameworks registered with train (gbdt and
			// nn register themselves when imported).
			factory = train.FactoryForFramework(fw)
			if factory != nil && fw != ckpt.Metadata().Framework {
				return nil, fmt.Errorf("%w: %s.framework: %q, but the checkpoint %s is framework %q",
					ErrInvalidInput, at, fw, path, ckpt.Metadata().Framework)
			}
		}
		if factory == nil {
			known := train.Frameworks()
			for k := range factories {
				if !slices.Contains(known, k) {
					known = append(known, k)
				}
			}
			slices.Sort(known)
			field := ".framework"
			if dc.Framework == "" {
				field = ".checkpoint"
			}
			return nil, fmt.Errorf("%w: %s%s: no predictor for framework %q (known: %s)",
				ErrInvalidInput, at, field, fw, strings.Join(known, ", "))
		}
		d := PredictorDeployment(ckpt, factory, nil)
		d.Name = dc.Name
		d.RoutePrefix = dc.route()
		d.NumReplicas = dc.NumReplicas
		d.MaxOngoingRequests = dc.MaxOngoingRequests
		d.MaxQueuedRequests = dc.MaxQueuedRequests
		d.RequestTimeout = dc.RequestTimeout.Duration
		d.HealthCheckPeriod = dc.HealthCheckPeriod.Duration
		d.HealthCheckTimeout = dc.HealthCheckTimeout.Duration
		d.GracefulShutdownTimeout = dc.GracefulShutdownTimeout.Duration
		if dc.UserConfig != nil {
			d.UserConfig = dc.UserConfig
		}
		if a := dc.Autoscaling; a != nil {
			d.Autoscaling = &Autoscaling{MinReplicas: a.MinReplicas, MaxReplicas: a.MaxReplicas,
				InitialReplicas: a.InitialReplicas, TargetOngoingRequests: a.TargetOngoingRequests,
				UpscaleDelay: a.UpscaleDelay.Duration, DownscaleDelay: a.DownscaleDelay.Duration,
				LookBackPeriod: a.LookBackPeriod.Duration}
		}
		app.Deployments = append(app.Deployments, d)
	}
	if err := app.Validate(); err != nil {
		return nil, err
	}
	return app, nil
}
