package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/goray/goray/core"
)

// Picky encodes only a set value: its zero value cannot cross the wire,
// which CheckRegistrations must notice.
type Picky struct{ v int }

func (p Picky) MarshalBinary() ([]byte, error) {
	if p.v == 0 {
		return nil, errors.New("picky: unset")
	}
	return []byte{byte(p.v)}, nil
}

func (p *Picky) UnmarshalBinary(b []byte) error {
	if len(b) != 1 {
		return errors.New("picky: bad length")
	}
	p.v = int(b[0])
	return nil
}

var _ = core.Func1("test.verify.picky", func(ctx context.Context, p Picky) (int, error) { return p.v, nil })

// CheckRegistrations walks every registration through its wire spec and
// names the ones that do not make it.
func TestCheckRegistrationsNamesWhatFails(t *testing.T) {
	n, err := core.CheckRegistrations()
	if n == 0 {
		t.Fatal("nothing checked")
	}
	if err == nil || !strings.Contains(err.Error(), `function "test.verify.picky": encode the call`) || !strings.Contains(err.Error(), "picky: unset") {
		t.Fatalf("CheckRegistrations: %v", err)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("only the picky registration should fail, got:\n%v", err)
	}
}
