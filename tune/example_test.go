package tune_test

import (
	"context"
	"fmt"
	"os"

	"github.com/goray/goray/tune"
)

// A grid over one parameter, a random one beside it, three iterations per
// trial, and the best trial by its last loss.
func Example() {
	dir, _ := os.MkdirTemp("", "tune-example-")
	defer os.RemoveAll(dir)
	tuner := tune.Tuner{
		Trainable: func(tc tune.Context, config tune.Config) error {
			width, _ := config.Float("width")
			noise, _ := config.Float("noise")
			for step := 1; step <= 3; step++ {
				loss := (width-4)*(width-4) + noise/float64(step)
				if err := tc.Report(map[string]float64{"loss": loss}, nil); err != nil {
					return err
				}
			}
			return nil
		},
		ParamSpace: map[string]any{
			"width": tune.GridSearch(2.0, 4.0, 8.0),
			"noise": tune.Uniform(0, 0.1),
		},
		TuneConfig: tune.TuneConfig{Metric: "loss", Mode: "min", Seed: 1},
		RunConfig:  tune.RunConfig{StoragePath: dir, Name: "example"},
	}
	grid, err := tuner.Fit(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	best, err := grid.GetBestResult("", "", "last")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("trials:", grid.Len(), "errors:", len(grid.Errors()))
	fmt.Println("best width:", best.Config["width"], "iterations:", best.Metrics["training_iteration"])
	// Output:
	// trials: 3 errors: 0
	// best width: 4 iterations: 3
}
