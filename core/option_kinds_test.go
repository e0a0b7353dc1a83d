package core_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// An option meaningless for a kind does not compile there: MaxConcurrency
// on a function, MaxRetries on an actor class, NumCPUs on a method, Name in
// GetActor. The snippets are compiled by the go command through an overlay
// (nothing is written into the module).
func TestMeaninglessOptionsDoNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles snippets with the go command")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skipf("no go command: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	const header = "package p\n\nimport (\n\t\"context\"\n\n\t\"github.com/goray/goray/core\"\n)\n\ntype S struct{}\n\n"
	snippets := map[string]string{
		"good": `var F = core.Func0("optcheck.good", func(ctx context.Context) (int, error) { return 1, nil }, core.NumCPUs(1), core.MaxRetries(2), core.LocalOnly())
var A = core.Actor0("optcheck.goodA", func(ctx context.Context) (*S, error) { return &S{}, nil }, core.NumCPUs(1), core.MaxConcurrency(2), core.Name("a"), core.Namespace("n"))
var M = core.Method0("optcheck.goodM", func(s *S, ctx context.Context) (int, error) { return 1, nil }, core.LocalOnly())
func g(ctx context.Context) { _, _ = core.GetActor[*S](ctx, "a", core.Namespace("n")) }
`,
		"concurrency_on_func": `var F = core.Func0("optcheck.f", func(ctx context.Context) (int, error) { return 1, nil }, core.MaxConcurrency(2))
`,
		"retries_on_actor": `var A = core.Actor0("optcheck.a", func(ctx context.Context) (*S, error) { return &S{}, nil }, core.MaxRetries(2))
`,
		"cpus_on_method": `var M = core.Method0("optcheck.m", func(s *S, ctx context.Context) (int, error) { return 1, nil }, core.NumCPUs(1))
`,
		"name_in_getactor": `func g(ctx context.Context) { _, _ = core.GetActor[*S](ctx, "a", core.Name("b")) }
`,
	}
	wantOpt := map[string]string{"concurrency_on_func": "MaxConcurrency", "retries_on_actor": "MaxRetries", "cpus_on_method": "NumCPUs", "name_in_getactor": "Name"}
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	dir := t.TempDir()
	for name, body := range snippets {
		src := filepath.Join(dir, name+".go")
		if err := os.WriteFile(src, []byte(header+body), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay["Replace"][filepath.Join(wd, "internal", "optcheck_"+name, "p.go")] = src
		pkgs = append(pkgs, "./internal/optcheck_"+name)
	}
	ob, _ := json.Marshal(overlay)
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, ob, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		cmd := exec.CommandContext(t.Context(), gobin, "build", "-overlay", ov, "-o", os.DevNull, pkg)
		cmd.Dir = wd
		out, err := cmd.CombinedOutput()
		if strings.HasSuffix(pkg, "_good") {
			if err != nil {
				t.Errorf("valid options do not compile: %v\n%s", err, out)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s compiled; want a type error", pkg)
		} else if want := "cannot use core." + wantOpt[strings.TrimPrefix(pkg, "./internal/optcheck_")]; !strings.Contains(string(out), want) {
			t.Errorf("%s: want a type error, got:\n%s", pkg, out)
		}
	}
}
