package checkpoint_test

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray/goray/checkpoint"
)

func newCkpt(t *testing.T) (*checkpoint.Checkpoint, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ckpt")
	c, err := checkpoint.New(dir, checkpoint.Metadata{
		Framework:     "gbdt",
		FormatVersion: 2,
		Metrics:       map[string]float64{"valid-auc": 0.99},
		Features:      []checkpoint.Feature{{Name: "x1", Type: "float64"}, {Name: "x2", Type: "int64"}},
		Extra:         map[string]any{"objective": "binary:logistic", "num_class": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

func TestRoundTrip(t *testing.T) {
	c, dir := newCkpt(t)
	if err := c.WriteFile("model.txt", []byte("tree")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile("sub/part.bin", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := got.Metadata()
	if m.Framework != "gbdt" || m.FormatVersion != 2 || m.GorayVersion != checkpoint.GorayVersion {
		t.Errorf("metadata = %+v", m)
	}
	if m.Metrics["valid-auc"] != 0.99 || len(m.Features) != 2 || m.Features[1] != (checkpoint.Feature{Name: "x2", Type: "int64"}) {
		t.Errorf("metadata = %+v", m)
	}
	if m.Extra["objective"] != "binary:logistic" || m.Extra["num_class"] != 1.0 {
		t.Errorf("extra = %v", m.Extra)
	}
	if m.CreatedAt.IsZero() || time.Since(m.CreatedAt) > time.Hour {
		t.Errorf("created at %v", m.CreatedAt)
	}
	if b, err := got.ReadFile("model.txt"); err != nil || string(b) != "tree" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	files, err := got.Files()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"metadata.json", "model.txt", "sub/part.bin"}; !slices.Equal(files, want) {
		t.Errorf("Files = %v, want %v", files, want)
	}
	if !got.HasFile("model.txt") || got.HasFile(checkpoint.PreprocessorFile) {
		t.Error("HasFile wrong")
	}
	if got.Path() != dir {
		t.Errorf("Path = %q, want %q", got.Path(), dir)
	}
}

func TestMetadataIsACopy(t *testing.T) {
	c, _ := newCkpt(t)
	m := c.Metadata()
	m.Metrics["valid-auc"] = 0
	m.Features[0].Name = "changed"
	if c.Metadata().Metrics["valid-auc"] != 0.99 || c.Metadata().Features[0].Name != "x1" {
		t.Error("Metadata shares state with the checkpoint")
	}
}

func TestToDirectory(t *testing.T) {
	c, _ := newCkpt(t)
	if err := c.WriteFile("a/b/model.txt", []byte("m")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if err := c.ToDirectory(dst); err != nil {
		t.Fatal(err)
	}
	if err := c.ToDirectory(c.Path()); err != nil {
		t.Fatalf("copy onto itself: %v", err)
	}
	cp, err := checkpoint.FromDirectory(dst)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := cp.ReadFile("a/b/model.txt"); err != nil || string(b) != "m" {
		t.Errorf("copied file = %q, %v", b, err)
	}
	if !cp.Metadata().CreatedAt.Equal(c.Metadata().CreatedAt) {
		t.Error("metadata not copied verbatim")
	}
}

func TestRequire(t *testing.T) {
	c, _ := newCkpt(t)
	if err := c.Require("gbdt", 2); err != nil {
		t.Errorf("Require(gbdt, 2) = %v", err)
	}
	err := c.Require("torch", 1)
	if !errors.Is(err, checkpoint.ErrWrongFramework) || !strings.Contains(err.Error(), "metadata.json") ||
		!strings.Contains(err.Error(), `"gbdt"`) {
		t.Errorf("Require(torch) = %v", err)
	}
	err = c.Require("gbdt", 1)
	if !errors.Is(err, checkpoint.ErrNewerFormat) || !strings.Contains(err.Error(), "metadata.json") {
		t.Errorf("Require(gbdt, 1) = %v", err)
	}
}

func TestDamagedMetadata(t *testing.T) {
	for name, tc := range map[string]struct {
		content string // "" = file absent
		want    error
	}{
		"missing":      {"", checkpoint.ErrCorrupt},
		"not json":     {"{framework: ", checkpoint.ErrCorrupt},
		"truncated":    {`{"checkpoint_layout_version": 1, "framework": "gbdt"`, checkpoint.ErrCorrupt},
		"no framework": {`{"checkpoint_layout_version": 1, "format_version": 1}`, checkpoint.ErrCorrupt},
		"no layout":    {`{"framework": "gbdt", "format_version": 1}`, checkpoint.ErrCorrupt},
		"newer layout": {`{"checkpoint_layout_version": 99, "framework": "gbdt", "format_version": 1}`, checkpoint.ErrNewerFormat},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := checkpoint.FromDirectory(dir)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "metadata.json") {
				t.Errorf("FromDirectory = %v, want %v naming metadata.json", err, tc.want)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	c, _ := newCkpt(t)
	for _, name := range []string{"", "../x", "/etc/passwd", ".", "a/../../x", "metadata.json"} {
		if err := c.WriteFile(name, nil); !errors.Is(err, checkpoint.ErrInvalidInput) {
			t.Errorf("WriteFile(%q) = %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := c.ReadFile("nope.txt"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.txt") {
		t.Errorf("ReadFile(missing) = %v", err)
	}
	if _, err := checkpoint.New(t.TempDir(), checkpoint.Metadata{}); !errors.Is(err, checkpoint.ErrInvalidInput) {
		t.Errorf("New without framework = %v", err)
	}
	_, err := checkpoint.New(t.TempDir(), checkpoint.Metadata{Framework: "x", Metrics: map[string]float64{"auc": math.NaN()}})
	if !errors.Is(err, checkpoint.ErrInvalidInput) || !strings.Contains(err.Error(), "auc") {
		t.Errorf("New with NaN metric = %v", err)
	}
}

func TestUpdateMetadata(t *testing.T) {
	c, dir := newCkpt(t)
	if err := c.UpdateMetadata(func(m *checkpoint.Metadata) { m.Metrics["valid-auc"] = 0.5 }); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata().Metrics["valid-auc"] != 0.5 {
		t.Errorf("metrics = %v", got.Metadata().Metrics)
	}
	if err := c.UpdateMetadata(func(m *checkpoint.Metadata) { m.Framework = "torch" }); !errors.Is(err, checkpoint.ErrInvalidInput) {
		t.Errorf("changing framework = %v", err)
	}
}

// memFS is an in-memory FS standing in for object storage.
type memFS struct{ files map[string][]byte }

type memEntry struct {
	name string
	dir  bool
}

func (e memEntry) Name() string               { return e.name }
func (e memEntry) IsDir() bool                { return e.dir }
func (e memEntry) Type() fs.FileMode          { return 0 }
func (e memEntry) Info() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }

func (m *memFS) ReadFile(name string) ([]byte, error) {
	b, ok := m.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return b, nil
}
func (m *memFS) WriteFile(name string, b []byte) error { m.files[name] = slices.Clone(b); return nil }
func (m *memFS) MkdirAll(string) error                 { return nil }
func (m *memFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	seen := map[string]bool{}
	var out []fs.DirEntry
	for k := range m.files {
		rest, ok := strings.CutPrefix(k, dir+"/")
		if !ok {
			continue
		}
		first, _, sub := strings.Cut(rest, "/")
		if !seen[first] {
			seen[first] = true
			out = append(out, memEntry{first, sub})
		}
	}
	return out, nil
}

func TestPluggableFS(t *testing.T) {
	mem := &memFS{files: map[string][]byte{}}
	c, err := checkpoint.New("bucket/run1", checkpoint.Metadata{Framework: "gbdt"}, checkpoint.WithFS(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile("model.txt", []byte("m")); err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.files["bucket/run1/metadata.json"]; !ok {
		t.Fatalf("metadata not on the plugged FS: %v", mem.files)
	}
	back, err := checkpoint.FromDirectory("bucket/run1", checkpoint.WithFS(mem))
	if err != nil {
		t.Fatal(err)
	}
	if !back.HasFile("model.txt") {
		t.Error("HasFile on memFS")
	}
	local := t.TempDir()
	if err := back.ToDirectory(local); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(local, "model.txt")); err != nil || string(b) != "m" {
		t.Errorf("downloaded = %q, %v", b, err)
	}
}
