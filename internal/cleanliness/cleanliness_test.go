package cleanliness

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// packages are the ones whose tests write files; serve writes none.
var packages = []string{
	"./train", "./train/gbdt", "./train/nn", "./checkpoint", "./tune",
	"./examples/breast_cancer", "./examples/cifar",
}

// TestSuiteLeavesNothingBehind runs the packages' tests in a child `go
// test` whose $HOME and $TMPDIR are fresh directories (the Go build cache,
// module cache, go env file and config directory stay the real ones), then
// lists what is left in those two directories: it must be nothing.
func TestSuiteLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tests of several packages")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Minute)
	defer cancel()
	envOut, err := exec.CommandContext(ctx, goTool, "env", "-json", "GOCACHE", "GOPATH", "GOMODCACHE", "GOENV").Output()
	if err != nil {
		t.Fatal(err)
	}
	var goEnv map[string]string
	if err := json.Unmarshal(envOut, &goEnv); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	home, tmp := filepath.Join(base, "home"), filepath.Join(base, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "HOME="+home, "TMPDIR="+tmp)
	for k, v := range goEnv {
		env = append(env, k+"="+v)
	}
	if cfg, err := os.UserConfigDir(); err == nil {
		env = append(env, "XDG_CONFIG_HOME="+cfg) // go telemetry's counters
	}
	cmd := exec.CommandContext(ctx, goTool, append([]string{"test", "-count=1", "-timeout=8m"}, packages...)...)
	cmd.Dir, cmd.Env = root, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go test %v: %v\n%s", packages, err, out.String())
	}
	for _, d := range []string{home, tmp} {
		if left := listTree(t, d); len(left) > 0 {
			t.Errorf("the tests left %d entries in %s:\n  %s", len(left), d, strings.Join(left, "\n  "))
		}
	}
}

// listTree lists what root holds, two levels deep, relative to root.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		out = append(out, filepath.ToSlash(rel))
		if d.IsDir() && strings.Count(rel, string(filepath.Separator)) >= 1 {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
