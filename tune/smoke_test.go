package tune

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			x, err := c.Float("x")
			if err != nil {
				return err
			}
			for i := range 3 {
				if err := tc.Report(map[string]float64{"loss": x * float64(i+1)}, nil); err != nil {
					return err
				}
			}
			return nil
		},
		ParamSpace: map[string]any{"x": GridSearch(1.0, 2.0, 3.0)},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min"},
		RunConfig:  RunConfig{StoragePath: t.TempDir(), Name: "smoke", Verbose: 2},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	best, err := g.GetBestResult("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(best.Config, best.Metrics)
}
