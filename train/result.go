package train

import "github.com/goray/goray/checkpoint"

// Result is what a Trainer's Fit returns.
type Result struct {
	// Metrics are the last reported metrics.
	Metrics map[string]float64
	// MetricsHistory holds every report, in order.
	MetricsHistory []map[string]float64
	// Checkpoint is the last (or best, per the run's checkpoint config) checkpoint.
	Checkpoint *checkpoint.Checkpoint
	// BestCheckpoints are the kept checkpoints, best first.
	BestCheckpoints []*checkpoint.Checkpoint
	// Path is the run's output directory.
	Path string
	// Err is the training error, if the run failed after reporting some results.
	Err error
}
