package gbdt_test

import (
	"context"
	"fmt"
	"math"

	"github.com/goray/goray/train/gbdt"
)

func ExampleTrain() {
	// y = 1 when x0 + x1 > 1, on a grid.
	var x0, x1, y []float64
	for i := range 40 {
		for j := range 40 {
			a, b := float64(i)/40, float64(j)/40
			x0, x1 = append(x0, a), append(x1, b)
			y = append(y, math.Round(math.Max(0, math.Min(1, a+b-0.5))))
		}
	}
	m, _ := gbdt.NewMatrix([]string{"x0", "x1"}, [][]float64{x0, x1}, y)
	b, err := gbdt.Train(context.Background(), m, map[string]*gbdt.Matrix{"train": m},
		gbdt.Params{"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "eval_metric": []string{"error"}}, 30)
	if err != nil {
		panic(err)
	}
	h := b.EvalHistory()
	fmt.Printf("rounds %d, train-error %.3f\n", b.NumRounds(), h[len(h)-1]["train-error"])
	// Output: rounds 30, train-error 0.001
}
