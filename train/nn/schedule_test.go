package nn

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/goray/goray/core"
	"github.com/goray/goray/train"
)

func TestSchedules(t *testing.T) {
	for name, tc := range map[string]struct {
		s    Schedule
		step int64
		want float64
	}{
		"constant":       {ConstantLR(0.1), 1000, 0.1},
		"step, before":   {StepDecay(1, 2, 0.5), 1, 1},
		"step, after 2":  {StepDecay(1, 2, 0.5), 5, 0.25},
		"cosine, start":  {CosineDecay(1, 0.1, 10), 0, 1},
		"cosine, middle": {CosineDecay(1, 0.1, 10), 5, 0.55},
		"cosine, end":    {CosineDecay(1, 0.1, 10), 12, 0.1},
	} {
		if got := tc.s.Rate(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: Rate(%d) = %v, want %v", name, tc.step, got, tc.want)
		}
	}
	for name, s := range map[string]Schedule{
		"Every": StepDecay(1, 0, 0.5),
		"Total": CosineDecay(1, 0, -1),
		"Kind":  {Kind: "warmup"},
	} {
		if err := s.Validate(); !errors.Is(err, train.ErrInvalidConfig) || !strings.Contains(err.Error(), "Schedule."+name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A TrainerConfig is plain data: it reaches the workers of a Trainer
// encoded, schedule included.
func TestTrainerConfigEncodes(t *testing.T) {
	cfg := TrainerConfig{
		Spec: Sequential([]int{2, 4, 4}, Conv2D(2, 4, 3, 1, 1), ReLU(), Flatten(), Dense(64, 3)), Optimizer: Adam(0.01),
		Schedule: CosineDecay(0.01, 0.001, 100), BatchSize: 8, Epochs: 2, Seed: 1 << 60, Replicas: 2,
		InputColumn: "x", LabelColumn: "y", Normalization: &Normalization{Scale: 2, Mean: []float64{0.5, 0.25}, Std: []float64{1, 2}},
		FitNormalizationScale: 0.5, Classes: []string{"a", "b", "c"}, ValidDataset: "v",
	}
	b, err := core.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := core.DecodeAs[TrainerConfig](b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("decoded %+v, want %+v", back, cfg)
	}
}
