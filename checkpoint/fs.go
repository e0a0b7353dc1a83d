package checkpoint

import (
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the storage a checkpoint lives on. Names are slash-separated paths as
// given to FromDirectory/New joined with a file's name inside the checkpoint.
// An object store implements it by treating names as keys and directories as
// key prefixes.
type FS interface {
	// ReadFile returns the whole content of the named file. A missing file
	// is an error satisfying errors.Is(err, fs.ErrNotExist).
	ReadFile(name string) ([]byte, error)
	// WriteFile replaces the named file with data, creating parent
	// directories as needed. Readers never see a partly written file.
	WriteFile(name string, data []byte) error
	// MkdirAll creates a directory and its parents; it is not an error if it exists.
	MkdirAll(dir string) error
	// ReadDir lists a directory's direct entries.
	ReadDir(dir string) ([]fs.DirEntry, error)
}

// LocalFS is the local disk. It is the default FS.
type LocalFS struct{}

var _ FS = LocalFS{}

// ReadFile implements FS.
func (LocalFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(filepath.FromSlash(name)) }

// MkdirAll implements FS.
func (LocalFS) MkdirAll(dir string) error { return os.MkdirAll(filepath.FromSlash(dir), 0o755) }

// ReadDir implements FS.
func (LocalFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	return os.ReadDir(filepath.FromSlash(dir))
}

// WriteFile implements FS: it writes a temporary file next to name and
// renames it into place.
func (LocalFS) WriteFile(name string, data []byte) error {
	name = filepath.FromSlash(name)
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, name)
	}
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	return nil
}
