package tune

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/goray/goray/checkpoint"
)

// historySpy wraps a scheduler and checks, at every decision, what a
// scheduler comparing trials (PBT) sees of each of them: each iteration
// once, in order, and no result after the checkpoint a trial waiting for its
// retry resumes from.
type historySpy struct {
	Scheduler
	runner TrialRunner
	mu     sync.Mutex
	bad    []string
}

func (s *historySpy) Setup(o SchedulerOptions) error {
	s.runner = o.Runner
	return s.Scheduler.Setup(o)
}

func (s *historySpy) check(when string) {
	for _, t := range s.runner.Trials() {
		its := iterations(t.History())
		for i := 1; i < len(its); i++ {
			if its[i] <= its[i-1] {
				s.fail("%s: trial %s history %v", when, t.ID(), its)
				break
			}
		}
		if n := len(t.History()); n > 0 && t.LastResult()["training_iteration"] != t.History()[n-1]["training_iteration"] {
			s.fail("%s: trial %s last result %v, history ends at %v", when, t.ID(), t.LastResult()["training_iteration"], its[n-1])
		}
		if t.status == StatusPending && t.failures > 0 && t.LastResult()["training_iteration"] > float64(t.checkpointIter) {
			s.fail("%s: trial %s waits to resume from iteration %d but shows iteration %v", when, t.ID(), t.checkpointIter, t.LastResult()["training_iteration"])
		}
	}
}

func (s *historySpy) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = append(s.bad, fmt.Sprintf(format, args...))
}

func (s *historySpy) OnTrialResult(t *Trial, r map[string]float64) Decision {
	s.check(fmt.Sprintf("result %v of trial %s", r["training_iteration"], t.ID()))
	return s.Scheduler.OnTrialResult(t, r)
}

func (s *historySpy) ChooseTrialToRun(c []*Trial) *Trial {
	s.check("choosing a trial to run")
	return s.Scheduler.ChooseTrialToRun(c)
}

func iterations(h []map[string]float64) []int {
	out := make([]int, len(h))
	for i, m := range h {
		out[i] = int(m["training_iteration"])
	}
	return out
}

// TestRetryDiscardsResultsAfterItsCheckpoint: a trial whose run fails after
// iteration 5, with its checkpoint at 3, is retried in the same process from
// that checkpoint and reports 4 and 5 again. As in Ray, the results after
// the checkpoint are discarded: the trial's history, what schedulers see of
// it and its result.json and progress.csv hold each iteration once. Under
// PBT, trials exploited from a donor's checkpoint at 3 also report 4 again.
func TestRetryDiscardsResultsAfterItsCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sched  Scheduler
		trials []any
		conc   int
	}{
		{"fifo", &FIFOScheduler{}, []any{1.0, 2.0}, 1},
		{"pbt", &PopulationBasedTraining{PerturbationInterval: 2, QuantileFraction: 0.5, Seed: 1,
			HyperparamMutations: map[string]any{"x": []any{1.0, 2.0, 3.0, 4.0}}}, []any{1.0, 2.0, 3.0, 4.0}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := &historySpy{Scheduler: tc.sched}
			g := fitFailingOnce(t, spy, tc.trials, tc.conc)
			for _, r := range g.Results() {
				if r.Status != StatusTerminated {
					t.Errorf("trial %s: %s %v", r.TrialID, r.Status, r.Err)
				}
				got := iterations(r.MetricsHistory)
				want := []int{1, 2, 3, 4, 5, 6, 7}
				if _, pbt := tc.sched.(*PopulationBasedTraining); pbt {
					// An exploited trial goes on from its donor's iteration,
					// which may be past its own: its history skips the rest.
					want = got
				}
				if !slices.Equal(got, want) {
					t.Errorf("trial %s history: iterations %v, want %v", r.TrialID, got, want)
				}
				file, err := readResults(filepath.Join(r.Path, resultFile))
				if err != nil {
					t.Fatal(err)
				}
				if got := iterations(file); !slices.Equal(got, want) {
					t.Errorf("trial %s result.json: iterations %v, want %v", r.TrialID, got, want)
				}
				csv, err := os.ReadFile(filepath.Join(r.Path, progressFile))
				if err != nil {
					t.Fatal(err)
				}
				if rows := strings.Count(string(csv), "\n") - 1; rows != len(got) {
					t.Errorf("trial %s progress.csv: %d rows, want %d", r.TrialID, rows, len(got))
				}
			}
			for _, b := range spy.bad {
				t.Error(b)
			}
			if p, ok := tc.sched.(*PopulationBasedTraining); ok && p.Exploits == 0 {
				t.Error("PBT exploited no trial")
			}
		})
	}
}

// fitFailingOnce runs trials that report iterations 1..7 with checkpoints
// at 3, 6 and 7; each trial's first run fails after iteration 5.
func fitFailingOnce(t *testing.T, sched Scheduler, xs []any, conc int) *ResultGrid {
	var mu sync.Mutex
	failed := map[string]bool{}
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			x, _ := c.Float("x")
			for it := tc.Iteration() + 1; it <= 7; it++ {
				var ck *checkpoint.Checkpoint
				if it == 3 || it >= 6 {
					var err error
					if ck, err = checkpoint.New(filepath.Join(tc.TrialDir(), fmt.Sprint("ck", it)), checkpoint.Metadata{Framework: "test"}); err != nil {
						return err
					}
				}
				if err := tc.Report(map[string]float64{"loss": x * float64(10-it)}, ck); err != nil {
					return err
				}
				mu.Lock()
				first := it == 5 && !failed[tc.TrialID()]
				if first {
					failed[tc.TrialID()] = true
				}
				mu.Unlock()
				if first {
					return errBoom
				}
			}
			return nil
		},
		ParamSpace: map[string]any{"x": GridSearch(xs...)},
		TuneConfig: TuneConfig{Metric: "loss", Mode: "min", Scheduler: sched, MaxConcurrentTrials: conc},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "retry",
			FailureConfig: FailureConfig{MaxFailures: 1}},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) == 0 {
		t.Error("no trial failed")
	}
	return g
}
