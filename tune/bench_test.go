package tune

import (
	"testing"
)

// BenchmarkNoopTrials measures one trial of one no-op report, end to end
// (actor, files, controller round trip), with 2 trials at a time.
func BenchmarkNoopTrials(b *testing.B) {
	b.ReportAllocs()
	tuner := Tuner{
		Trainable:  func(tc Context, c Config) error { return tc.Report(map[string]float64{"x": 1}, nil) },
		TuneConfig: TuneConfig{NumSamples: b.N, MaxConcurrentTrials: 2},
		RunConfig:  RunConfig{StoragePath: b.TempDir()},
	}
	b.ResetTimer()
	if _, err := tuner.Fit(b.Context()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReports measures one report of a running trial.
func BenchmarkReports(b *testing.B) {
	b.ReportAllocs()
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			for i := range b.N {
				if err := tc.Report(map[string]float64{"loss": float64(i)}, nil); err != nil {
					return err
				}
			}
			return nil
		},
		RunConfig: RunConfig{StoragePath: b.TempDir()},
	}
	b.ResetTimer()
	if _, err := tuner.Fit(b.Context()); err != nil {
		b.Fatal(err)
	}
}
