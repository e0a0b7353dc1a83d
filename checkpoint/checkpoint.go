package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goray/goray/core"
)

// MetadataFile is the name of the file describing a checkpoint.
const MetadataFile = "metadata.json"

// PreprocessorFile is the name of the file holding a fitted preprocessor's
// state, when the model was trained behind one.
const PreprocessorFile = "preprocessor.json"

// GorayVersion is the goray version recorded in new checkpoints.
const GorayVersion = "0.1.0"

// layoutVersion is the version of the checkpoint layout itself (the shape of
// metadata.json). A checkpoint written by a newer layout is refused with
// ErrNewerFormat rather than half-read.
const layoutVersion = 1

var (
	// ErrWrongFramework: the checkpoint was written by another framework
	// than the one reading it. Like every checkpoint sentinel, it matches
	// core.ErrInvalidInput with errors.Is: the checkpoint is the caller's
	// input.
	ErrWrongFramework = core.NewKind("wrong checkpoint framework", core.ErrInvalidInput)
	// ErrNewerFormat: the checkpoint was written in a newer format version
	// than the reader understands.
	ErrNewerFormat = core.NewKind("newer checkpoint format version", core.ErrInvalidInput)
	// ErrCorrupt: metadata.json (or another required file) is missing or damaged.
	ErrCorrupt = core.NewKind("corrupt checkpoint", core.ErrInvalidInput)
	// ErrInvalidInput: a bad argument (empty framework, a file name that
	// leaves the checkpoint directory, ...). It is core.ErrInvalidInput
	// itself.
	ErrInvalidInput = core.ErrInvalidInput
)

// Feature is one input column the model expects, in order.
type Feature struct {
	Name string `json:"name"`
	// Type is the Arrow type name of the column, e.g. "float64", "int64".
	Type string `json:"type"`
}

// Metadata describes a checkpoint. It is stored as metadata.json.
type Metadata struct {
	// Framework names the library that wrote the model files, e.g. "gbdt".
	Framework string `json:"framework"`
	// FormatVersion is the framework's model-format version; readers
	// refuse versions newer than they know (see Require).
	FormatVersion int `json:"format_version"`
	// GorayVersion is the goray version that wrote the checkpoint.
	GorayVersion string `json:"goray_version"`
	// Metrics are the last reported metrics of the run that made the checkpoint.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// CreatedAt is when New was called (UTC).
	CreatedAt time.Time `json:"created_at"`
	// Features are the model's input columns, before preprocessing.
	Features []Feature `json:"features,omitempty"`
	// Extra holds framework-specific values. After a round trip through
	// JSON, numbers come back as float64, objects as map[string]any.
	Extra map[string]any `json:"extra,omitempty"`
}

// clone returns a deep-enough copy: the maps and slice are fresh.
func (m Metadata) clone() Metadata {
	m.Metrics = maps.Clone(m.Metrics)
	m.Features = slices.Clone(m.Features)
	m.Extra = maps.Clone(m.Extra)
	return m
}

// metadataJSON is the on-disk shape of metadata.json.
type metadataJSON struct {
	LayoutVersion int `json:"checkpoint_layout_version"`
	Metadata
}

// Checkpoint is a checkpoint directory on a filesystem. Its methods may be
// called from several goroutines as long as none writes the same file.
type Checkpoint struct {
	fsys FS
	dir  string // slash-separated
	meta Metadata
}

// Option configures New and FromDirectory.
type Option func(*options)

type options struct{ fsys FS }

// WithFS stores the checkpoint on fsys instead of the local disk.
func WithFS(fsys FS) Option { return func(o *options) { o.fsys = fsys } }

func buildOptions(opts []Option) options {
	o := options{fsys: LocalFS{}}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// New creates dir (and its parents) and writes metadata.json into it.
// Empty GorayVersion and zero CreatedAt are filled in; FormatVersion 0 is
// stored as 1. Files already in dir are left alone.
func New(dir string, meta Metadata, opts ...Option) (*Checkpoint, error) {
	o := buildOptions(opts)
	if dir == "" {
		return nil, fmt.Errorf("%w: empty checkpoint directory", ErrInvalidInput)
	}
	if meta.Framework == "" {
		return nil, fmt.Errorf("%w: Metadata.Framework is empty", ErrInvalidInput)
	}
	if meta.FormatVersion < 0 {
		return nil, fmt.Errorf("%w: Metadata.FormatVersion %d is negative", ErrInvalidInput, meta.FormatVersion)
	}
	if err := checkMetadata(meta); err != nil {
		return nil, err
	}
	meta = meta.clone()
	if meta.FormatVersion == 0 {
		meta.FormatVersion = 1
	}
	if meta.GorayVersion == "" {
		meta.GorayVersion = GorayVersion
	}
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = time.Now().UTC()
	}
	c := &Checkpoint{fsys: o.fsys, dir: filepath.ToSlash(dir), meta: meta}
	if err := c.fsys.MkdirAll(c.dir); err != nil {
		return nil, fmt.Errorf("checkpoint: create %s: %w", dir, err)
	}
	if err := c.writeMetadata(); err != nil {
		return nil, err
	}
	return c, nil
}

// FromDirectory opens the checkpoint in dir, reading and checking its
// metadata.json. A missing or damaged metadata.json is ErrCorrupt; one
// written by a newer checkpoint layout is ErrNewerFormat. Use Require to
// check the framework and its format version.
func FromDirectory(dir string, opts ...Option) (*Checkpoint, error) {
	o := buildOptions(opts)
	if dir == "" {
		return nil, fmt.Errorf("%w: empty checkpoint directory", ErrInvalidInput)
	}
	c := &Checkpoint{fsys: o.fsys, dir: filepath.ToSlash(dir)}
	file := c.join(MetadataFile)
	b, err := c.fsys.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing (not a checkpoint directory?): %w", ErrCorrupt, file, err)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", file, err)
	}
	var mj metadataJSON
	if err := json.Unmarshal(b, &mj); err != nil {
		return nil, fmt.Errorf("%w: %s is not valid JSON: %v", ErrCorrupt, file, err)
	}
	switch {
	case mj.LayoutVersion > layoutVersion:
		return nil, fmt.Errorf("%w: %s has checkpoint layout version %d, this goray (%s) reads up to %d",
			ErrNewerFormat, file, mj.LayoutVersion, GorayVersion, layoutVersion)
	case mj.LayoutVersion < 1:
		return nil, fmt.Errorf("%w: %s has no valid checkpoint_layout_version", ErrCorrupt, file)
	case mj.Framework == "":
		return nil, fmt.Errorf("%w: %s names no framework", ErrCorrupt, file)
	case mj.FormatVersion < 1:
		return nil, fmt.Errorf("%w: %s has invalid format_version %d", ErrCorrupt, file, mj.FormatVersion)
	}
	c.meta = mj.Metadata
	return c, nil
}

// Path returns the checkpoint's directory as given to New or FromDirectory.
func (c *Checkpoint) Path() string { return filepath.FromSlash(c.dir) }

// FS returns the filesystem the checkpoint is stored on.
func (c *Checkpoint) FS() FS { return c.fsys }

// Metadata returns a copy of the checkpoint's metadata.
func (c *Checkpoint) Metadata() Metadata { return c.meta.clone() }

// Require checks that the checkpoint was written by framework in a format
// version no newer than maxFormat; the error wraps ErrWrongFramework or
// ErrNewerFormat and names metadata.json.
func (c *Checkpoint) Require(framework string, maxFormat int) error {
	file := c.join(MetadataFile)
	if c.meta.Framework != framework {
		return fmt.Errorf("%w: %s says framework %q, want %q", ErrWrongFramework, file, c.meta.Framework, framework)
	}
	if c.meta.FormatVersion > maxFormat {
		return fmt.Errorf("%w: %s has %s format version %d, this reader supports up to %d (written by goray %s, this is %s)",
			ErrNewerFormat, file, framework, c.meta.FormatVersion, maxFormat, c.meta.GorayVersion, GorayVersion)
	}
	return nil
}

// UpdateMetadata applies fn to a copy of the metadata and rewrites
// metadata.json with the result. The framework cannot be changed.
func (c *Checkpoint) UpdateMetadata(fn func(*Metadata)) error {
	m := c.meta.clone()
	fn(&m)
	if m.Framework != c.meta.Framework {
		return fmt.Errorf("%w: cannot change framework %q to %q", ErrInvalidInput, c.meta.Framework, m.Framework)
	}
	if err := checkMetadata(m); err != nil {
		return err
	}
	old := c.meta
	c.meta = m
	if err := c.writeMetadata(); err != nil {
		c.meta = old
		return err
	}
	return nil
}

// WriteFile writes a file into the checkpoint. name is relative to the
// checkpoint directory, slash-separated, and may contain subdirectories; it
// may not leave the directory or replace metadata.json.
func (c *Checkpoint) WriteFile(name string, b []byte) error {
	clean, err := cleanName(name)
	if err != nil {
		return err
	}
	if clean == MetadataFile {
		return fmt.Errorf("%w: %s is written by the checkpoint package (use UpdateMetadata)", ErrInvalidInput, MetadataFile)
	}
	if err := c.fsys.WriteFile(c.join(clean), b); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", c.join(clean), err)
	}
	return nil
}

// ReadFile reads a file of the checkpoint. A missing file is an error
// satisfying errors.Is(err, fs.ErrNotExist) that names the file.
func (c *Checkpoint) ReadFile(name string) ([]byte, error) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	b, err := c.fsys.ReadFile(c.join(clean))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", c.join(clean), err)
	}
	return b, nil
}

// HasFile reports whether the checkpoint contains the named file.
func (c *Checkpoint) HasFile(name string) bool {
	clean, err := cleanName(name)
	if err != nil {
		return false
	}
	dir, base := path.Split(c.join(clean))
	entries, err := c.fsys.ReadDir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() == base && !e.IsDir() {
			return true
		}
	}
	return false
}

// Files lists the checkpoint's files (metadata.json included), relative and
// slash-separated, sorted.
func (c *Checkpoint) Files() ([]string, error) {
	var out []string
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := c.fsys.ReadDir(c.join(rel))
		if err != nil {
			return fmt.Errorf("checkpoint: list %s: %w", c.join(rel), err)
		}
		for _, e := range entries {
			name := path.Join(rel, e.Name())
			switch {
			case strings.HasPrefix(e.Name(), ".tmp-"):
			case e.IsDir():
				if err := walk(name); err != nil {
					return err
				}
			default:
				out = append(out, name)
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// ToDirectory copies every file of the checkpoint into dir on the local
// disk, creating it; files already in dir with other names are left alone.
// Copying a checkpoint onto itself is a no-op.
func (c *Checkpoint) ToDirectory(dir string) error {
	if _, local := c.fsys.(LocalFS); local {
		a, err1 := filepath.Abs(c.Path())
		b, err2 := filepath.Abs(dir)
		if err1 == nil && err2 == nil && a == b {
			return nil
		}
	}
	files, err := c.Files()
	if err != nil {
		return err
	}
	dst := LocalFS{}
	if err := dst.MkdirAll(filepath.ToSlash(dir)); err != nil {
		return fmt.Errorf("checkpoint: create %s: %w", dir, err)
	}
	for _, f := range files {
		b, err := c.fsys.ReadFile(c.join(f))
		if err != nil {
			return fmt.Errorf("checkpoint: read %s: %w", c.join(f), err)
		}
		to := path.Join(filepath.ToSlash(dir), f)
		if err := dst.WriteFile(to, b); err != nil {
			return fmt.Errorf("checkpoint: write %s: %w", to, err)
		}
	}
	return nil
}

func (c *Checkpoint) join(name string) string {
	if name == "" {
		return c.dir
	}
	return path.Join(c.dir, name)
}

func (c *Checkpoint) writeMetadata() error {
	b, err := json.MarshalIndent(metadataJSON{LayoutVersion: layoutVersion, Metadata: c.meta}, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: metadata cannot be encoded as JSON: %v", ErrInvalidInput, err)
	}
	file := c.join(MetadataFile)
	if err := c.fsys.WriteFile(file, append(b, '\n')); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", file, err)
	}
	return nil
}

// checkMetadata rejects values metadata.json cannot hold faithfully.
func checkMetadata(m Metadata) error {
	for i, f := range m.Features {
		if f.Name == "" {
			return fmt.Errorf("%w: Metadata.Features[%d] has an empty name", ErrInvalidInput, i)
		}
	}
	for k, v := range m.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: Metadata.Metrics[%q] is %v; JSON cannot store it", ErrInvalidInput, k, v)
		}
	}
	return nil
}

// cleanName checks a file name given to WriteFile/ReadFile.
func cleanName(name string) (string, error) {
	s := filepath.ToSlash(name)
	clean := path.Clean(s)
	if name == "" || path.IsAbs(s) || filepath.IsAbs(name) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: file name %q must be a relative path inside the checkpoint", ErrInvalidInput, name)
	}
	return clean, nil
}
