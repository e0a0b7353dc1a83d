package nn

import (
	"os"
	"testing"

	"github.com/goray/goray/core"
)

// TestMain shuts down the runtime the trainer tests start, which removes
// its spill directory from $TMPDIR.
func TestMain(m *testing.M) {
	code := m.Run()
	core.Shutdown()
	os.Exit(code)
}
