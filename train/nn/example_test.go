package nn_test

import (
	"context"
	"fmt"

	"github.com/goray/goray/train"
	"github.com/goray/goray/train/nn"
)

// A small classifier trained one step at a time on one worker.
func Example() {
	spec := nn.Sequential([]int{4}, nn.Dense(4, 8), nn.ReLU(), nn.Dense(8, 2))
	model, err := nn.NewModel(spec, 1)
	if err != nil {
		panic(err)
	}
	learner, err := nn.NewLearner(model, nn.LearnerConfig{Optimizer: nn.Adam(0.05)})
	if err != nil {
		panic(err)
	}
	// Class 1 when the first feature is positive.
	batch := nn.Batch{
		X:      []float32{1, 0, 0, 0, -1, 0, 0, 0, 2, 1, 0, 0, -2, 1, 0, 0},
		Labels: []int32{1, 0, 1, 0},
	}
	var st nn.StepStats
	for i := 0; i < 50; i++ {
		if st, err = learner.Step(context.Background(), batch, train.Solo()); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%d parameters, step %d, accuracy %.0f%%\n", model.NumParams(), st.Step, 100*st.Accuracy)
	// Output: 58 parameters, step 49, accuracy 100%
}

// A layer that does not fit its input is an error naming it.
func ExampleSpec_Validate() {
	spec := nn.Sequential([]int{3, 32, 32}, nn.Conv2D(3, 16, 3, 1, 1), nn.Flatten(), nn.Dense(4096, 10))
	fmt.Println(spec.Validate())
	// Output: nn: invalid model spec: layer 2 (dense): in=4096 but the previous layer outputs 16384 features
}
