// Package registrations checks that every function, actor class and
// method the project's packages register can be dispatched by name through
// encoded arguments, as a worker on another node dispatches it.
package registrations

import (
	"testing"

	"github.com/goray/goray/core"

	_ "github.com/goray/goray/checkpoint"
	_ "github.com/goray/goray/data"
	_ "github.com/goray/goray/preprocess"
	_ "github.com/goray/goray/serve"
	_ "github.com/goray/goray/train"
	_ "github.com/goray/goray/train/gbdt"
	_ "github.com/goray/goray/train/nn"
	_ "github.com/goray/goray/tune"
)

func TestEveryRegistrationDispatchesByName(t *testing.T) {
	n, err := core.CheckRegistrations()
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("checked only %d registrations; the project's packages register more", n)
	}
	t.Logf("%d registrations dispatch by name; LocalOnly (not checked): %v", n, core.LocalOnlyRegistrations())
}
