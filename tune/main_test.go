package tune

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/goray/goray/core"
)

func TestMain(m *testing.M) {
	if err := core.Init(core.WithNumCPUs(4)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	core.Shutdown()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
