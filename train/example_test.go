package train_test

import (
	"context"
	"fmt"
	"os"

	"github.com/goray/goray/core"
	"github.com/goray/goray/train"
)

// exampleLoop sums scale·(rank+1) over the workers and reports it.
var exampleLoop = train.RegisterLoop("train_test.example", func(tc train.Context, config map[string]any) error {
	scale := config["scale"].(float64)
	v := []float64{scale * float64(tc.WorldRank()+1)}
	if err := tc.Collective().AllReduce(tc.Context(), v, train.Sum); err != nil {
		return err
	}
	return tc.Report(map[string]float64{"sum": v[0]}, nil)
})

func ExampleRegisterLoop() {
	if err := core.Init(core.WithNumCPUs(2)); err != nil {
		panic(err)
	}
	defer core.Shutdown()
	dir, err := os.MkdirTemp("", "train-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	trainer := &train.DataParallelTrainer{
		TrainLoop:     exampleLoop,
		Config:        map[string]any{"scale": 0.5},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{StoragePath: dir, Name: "example"},
	}
	res, err := trainer.Fit(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Metrics["sum"], res.Metrics["training_iteration"])
	// Output: 1.5 1
}
