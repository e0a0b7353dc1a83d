package preprocess

import (
	"encoding/json"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
)

// Chain runs preprocessors in sequence. Fit fits each stage on the output
// of the stages before it (Ray's Chain); TransformBatch and Transform apply
// the stages in order. Its JSON state nests each stage's
// {"type": ..., "state": ...}.
type Chain struct {
	Stages []Preprocessor
}

// NewChain returns a Chain of stages.
func NewChain(stages ...Preprocessor) *Chain { return &Chain{Stages: stages} }

// TypeName is "Chain".
func (c *Chain) TypeName() string { return "Chain" }

// Fitted reports whether every stage is fitted.
func (c *Chain) Fitted() bool {
	for _, s := range c.Stages {
		if !s.Fitted() {
			return false
		}
	}
	return true
}

func (c *Chain) validate() error {
	if len(c.Stages) == 0 {
		return fmt.Errorf("%w: Chain has no stages", ErrInvalidInput)
	}
	for i, s := range c.Stages {
		if s == nil {
			return fmt.Errorf("%w: Chain stage %d is nil", ErrInvalidInput, i)
		}
	}
	return nil
}

// TransformBatch applies every stage to one batch. It does not release
// batch; the caller releases the result.
func (c *Chain) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	cur := batch
	cur.Retain()
	for i, s := range c.Stages {
		next, err := s.TransformBatch(cur)
		cur.Release()
		if err != nil {
			return nil, fmt.Errorf("preprocess: Chain stage %d (%s): %w", i, s.TypeName(), err)
		}
		cur = next
	}
	return cur, nil
}

type chainJSON struct {
	Stages []json.RawMessage `json:"stages"`
}

// MarshalJSON writes each stage as Marshal does.
func (c *Chain) MarshalJSON() ([]byte, error) {
	out := chainJSON{Stages: make([]json.RawMessage, len(c.Stages))}
	for i, s := range c.Stages {
		b, err := Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("Chain stage %d: %w", i, err)
		}
		out.Stages[i] = b
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads each stage as Unmarshal does.
func (c *Chain) UnmarshalJSON(b []byte) error {
	var in chainJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	c.Stages = make([]Preprocessor, len(in.Stages))
	for i, raw := range in.Stages {
		s, err := Unmarshal(raw)
		if err != nil {
			return fmt.Errorf("Chain stage %d: %w", i, err)
		}
		c.Stages[i] = s
	}
	return nil
}
