package gbdt_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

// A callback or snapshot may wrap ErrStopTraining with context; training
// still ends cleanly (errors.Is, not ==).
func TestWrappedStopTraining(t *testing.T) {
	data := synthetic(t, 3, 300, 3, 0, func(x []float64, _ *rand.Rand) float64 { return btof(x[0] > 0) })
	b, err := gbdt.Train(t.Context(), data, nil, nil, 50, gbdt.WithCallback(func(round int, _ map[string]float64) error {
		if round == 2 {
			return fmt.Errorf("loss is good enough at round %d: %w", round, gbdt.ErrStopTraining)
		}
		return nil
	}))
	if err != nil || b.NumRounds() != 3 {
		t.Errorf("callback returning a wrapped ErrStopTraining: %v, %d rounds, want nil, 3", err, b.NumRounds())
	}
	b, err = gbdt.Train(t.Context(), data, nil, nil, 50, gbdt.WithSnapshot(func(round int, _ *gbdt.Booster) error {
		if round == 4 {
			return fmt.Errorf("snapshot: %w", gbdt.ErrStopTraining)
		}
		return nil
	}))
	if err != nil || b.NumRounds() != 5 {
		t.Errorf("snapshot returning a wrapped ErrStopTraining: %v, %d rounds, want nil, 5", err, b.NumRounds())
	}
}
