package train_test

import (
	"errors"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

type identity struct{ state string }

func (identity) TransformBatch(b arrow.Record) (arrow.Record, error) { b.Retain(); return b, nil }

func TestLoadPreprocessor(t *testing.T) {
	c, err := checkpoint.New(t.TempDir(), checkpoint.Metadata{Framework: "gbdt"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := train.LoadPreprocessor(c); p != nil || err != nil {
		t.Fatalf("no preprocessor.json: got %v, %v", p, err)
	}
	if err := c.WriteFile(checkpoint.PreprocessorFile, []byte(`{"s":1}`)); err != nil {
		t.Fatal(err)
	}
	prev := train.RegisterPreprocessorLoader(nil)
	defer train.RegisterPreprocessorLoader(prev) // other tests in the binary may rely on it
	if _, err := train.LoadPreprocessor(c); !errors.Is(err, train.ErrNoPreprocessorLoader) {
		t.Fatalf("no loader: %v", err)
	}
	train.RegisterPreprocessorLoader(func(state []byte) (train.BatchTransformer, error) {
		return identity{string(state)}, nil
	})
	p, err := train.LoadPreprocessor(c)
	if err != nil {
		t.Fatal(err)
	}
	if p.(identity).state != `{"s":1}` {
		t.Errorf("loader got %q", p.(identity).state)
	}
}
