package serve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray/goray/train"
)

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// registerLinear puts the fake model in train's registry once per process
// (registering a framework twice panics), so the test can run repeatedly.
var registerLinear sync.Once

func TestLoadConfigAndServe(t *testing.T) {
	dir := t.TempDir()
	linearCheckpoint(t, filepath.Join(dir, "ckpt"), 1)
	p := writeConfig(t, dir, `
http:
  host: 127.0.0.1
  port: 0
  request_timeout: 5s
deployments:
  - name: bc
    checkpoint: ckpt
    num_replicas: 2
    max_ongoing_requests: 8
    max_queued_requests: 100
  - name: bc_auto
    checkpoint: ckpt
    framework: linear
    route_prefix: /auto
    autoscaling:
      min_replicas: 1
      max_replicas: 3
      upscale_delay: 0.5
      downscale_delay: 1m
`)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Deployments[1].Autoscaling.UpscaleDelay.Duration; got != 500*time.Millisecond {
		t.Errorf("upscale_delay 0.5 = %v, want 500ms", got)
	}
	if cfg.HTTPOptions().RequestTimeout != 5*time.Second {
		t.Errorf("request_timeout = %v", cfg.HTTPOptions().RequestTimeout)
	}
	app, err := AppFromConfig(cfg, map[string]train.PredictorFactory{"linear": linearFactory})
	if err != nil {
		t.Fatal(err)
	}
	if app.Deployments[0].RoutePrefix != "/bc" || app.Deployments[0].NumReplicas != 2 || app.Deployments[1].Autoscaling.MaxReplicas != 3 {
		t.Errorf("deployments = %+v", app.Deployments)
	}
	s := testServer(t, app)
	names, rows := bcData(t)
	c := client(t)
	for _, route := range []string{"/bc", "/auto"} {
		if r := post(t, c, "http://"+s.Addr()+route, recordsJSON(names, rows[:2])); r.code != 200 {
			t.Errorf("%s: %d %s", route, r.code, r.body)
		}
	}

	// With no factories given, train's registry is used.
	registerLinear.Do(func() { train.RegisterPredictorFactory("linear", linearFactory) })
	if _, err := AppFromConfig(cfg, nil); err != nil {
		t.Errorf("AppFromConfig with the registry: %v", err)
	}

	other, err := ParseConfig([]byte("deployments:\n  - name: x\n    framework: nosuch\n    checkpoint: " + filepath.Join(dir, "ckpt") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = AppFromConfig(other, map[string]train.PredictorFactory{"gbdt": linearFactory})
	// The known list names the factories given and every framework
	// registered with train (here linear, and gbdt, which gbdt_test.go
	// imports), once each.
	known := strings.Join(train.Frameworks(), ", ")
	if err == nil || !strings.Contains(err.Error(), `deployments[0] (x).framework: no predictor for framework "nosuch" (known: `+known+`)`) ||
		!strings.Contains(known, "gbdt") || !strings.Contains(known, "linear") {
		t.Errorf("unknown framework: %v", err)
	}
	// A registered framework that is not the checkpoint's is named at load
	// time, not when a replica fails to start.
	mismatch, err := ParseConfig([]byte("deployments:\n  - name: x\n    framework: gbdt\n    checkpoint: " + filepath.Join(dir, "ckpt") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppFromConfig(mismatch, nil); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `deployments[0] (x).framework: "gbdt", but the checkpoint`) {
		t.Errorf("framework mismatch: %v", err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", ``, "empty"},
		{"no deployments", "http:\n  port: 8000\n", "deployments: no deployments"},
		{"unknown field", "deployments:\n  - name: a\n    checkpoint: x\n    replicas: 2\n", `line 4: unknown field "replicas" in a deployment (known: name, checkpoint`},
		{"unknown top", "deployment:\n  - name: a\n", `unknown field "deployment" in the top level`},
		{"wrong type", "deployments:\n  - name: a\n    checkpoint: x\n    num_replicas: two\n", "line 4"},
		{"missing checkpoint", "deployments:\n  - name: a\n", "deployments[0] (a).checkpoint: missing"},
		{"missing name", "deployments:\n  - checkpoint: x\n", "deployments[0].name: missing"},
		{"bad port", "http:\n  port: 70000\ndeployments:\n  - name: a\n    checkpoint: x\n", "http.port: 70000 is not a port"},
		{"bad route", "deployments:\n  - name: a\n    checkpoint: x\n    route_prefix: a/\n", "deployments[0] (a).route_prefix"},
		{"dup name", "deployments:\n  - name: a\n    checkpoint: x\n  - name: a\n    checkpoint: y\n", "deployments[1] (a).name"},
		{"autoscaling bounds", "deployments:\n  - name: a\n    checkpoint: x\n    autoscaling:\n      min_replicas: 3\n      max_replicas: 2\n", "deployments[0] (a).autoscaling.max_replicas: must be >= min_replicas (3), got 2"},
		{"replicas and autoscaling", "deployments:\n  - name: a\n    checkpoint: x\n    num_replicas: 2\n    autoscaling:\n      max_replicas: 2\n", "num_replicas: cannot be set together with autoscaling"},
		{"bad duration", "deployments:\n  - name: a\n    checkpoint: x\n    request_timeout: soon\n", `line 4: "soon" is not a duration`},
		{"negative queue", "deployments:\n  - name: a\n    checkpoint: x\n    max_queued_requests: -5\n", "max_queued_requests: must be >= -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, dir, tc.yaml))
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant ErrInvalidInput containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "serve.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	// A checkpoint that is not there is named at AppFromConfig.
	cfg, err := LoadConfig(writeConfig(t, dir, "deployments:\n  - name: a\n    checkpoint: nowhere\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppFromConfig(cfg, nil); err == nil || !strings.Contains(err.Error(), "deployments[0] (a).checkpoint") {
		t.Errorf("missing checkpoint: %v", err)
	}
}
