package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// TestTrialSpecCrossesProcesses: what a trial's actor gets and gives back
// is plain data that the codec carries exactly, and no tune registration
// is LocalOnly.
func TestTrialSpecCrossesProcesses(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[runSpec](), reflect.TypeFor[trialReport](), reflect.TypeFor[Decision]()} {
		if err := core.CheckEncodable(typ); err != nil {
			t.Errorf("%v: %v", typ, err)
		}
	}
	for _, r := range core.LocalOnlyRegistrations() {
		if strings.Contains(r, " tune.") {
			t.Errorf("%s is LocalOnly", r)
		}
	}
	spec := runSpec{Trainable: "x.train", TrialID: "00003", Run: 2, Dir: "/tmp/exp/trial_00003",
		Restore: "/tmp/exp/trial_00003/checkpoint_000002", StartIter: 4, StartTime: 1.5, CkptSeq: 2,
		Config: Config{
			"lr": 0.01, "layers": 3, "name": "resnet", "nan": math.NaN(), "on": true, "none": nil,
			"i64": int64(1) << 40, "f32": float32(0.5), "u8": uint8(7),
			"sizes": []int{64, 32}, "tags": []string{"a", "b"}, "w": map[string]float64{"x": 1.5},
			"params": map[string]any{"max_depth": 6, "eta": 0.3, "list": []any{1, "two", 3.0}},
			"nested": Config{"k": "v"},
		}}
	b, err := core.Encode(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := core.DecodeAs[runSpec](b)
	if err != nil {
		t.Fatal(err)
	}
	nan := got.Config["nan"].(float64)
	delete(got.Config, "nan")
	delete(spec.Config, "nan")
	if !math.IsNaN(nan) || !reflect.DeepEqual(got, spec) {
		t.Errorf("round trip:\n got %#v\nwant %#v (nan %v)", got, spec, nan)
	}
	var none Config
	b, err = none.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := Config{"x": 1}
	if err := back.UnmarshalBinary(b); err != nil || back != nil {
		t.Errorf("nil config came back as %v, %v", back, err)
	}
}

// TestConfigThatCannotCrossNamesItsKey: a config value the codec cannot
// carry is an error naming its key, not a silently different value.
func TestConfigThatCannotCrossNamesItsKey(t *testing.T) {
	type model struct{ Width int }
	for _, c := range []Config{
		{"model": map[string]any{"arch": model{Width: 3}}},
		{"model": map[string]any{"hook": func() {}}},
		{"list": []any{1, &model{}}},
	} {
		_, err := c.MarshalBinary()
		if !errors.Is(err, core.ErrNotEncodable) {
			t.Errorf("%v: got %v, want ErrNotEncodable", c, err)
			continue
		}
		if !strings.Contains(err.Error(), `"model/arch"`) && !strings.Contains(err.Error(), `"model/hook"`) && !strings.Contains(err.Error(), `"list/1"`) {
			t.Errorf("%v: error %q names no key", c, err)
		}
	}
}

var registeredSquare = Register("tune.test.square", func(tc Context, c Config) error {
	x, err := c.Float("x")
	if err != nil {
		return err
	}
	for i := range 3 {
		if err := tc.Report(map[string]float64{"y": x * x * float64(i+1)}, nil); err != nil {
			return err
		}
	}
	return nil
})

// TestRegisteredTrainable runs a trainable registered by name: its trials'
// actors find it by that name.
func TestRegisteredTrainable(t *testing.T) {
	if registeredSquare.Name() != "tune.test.square" {
		t.Fatalf("name %q", registeredSquare.Name())
	}
	tuner := Tuner{
		Trainable:  WithResources(registeredSquare, Resources{CPU: 1}),
		ParamSpace: map[string]any{"x": GridSearch(1.0, 2.0, 3.0)},
		TuneConfig: TuneConfig{Metric: "y", Mode: "min"},
		RunConfig:  RunConfig{StoragePath: t.TempDir(), Name: "registered"},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.Results() {
		x, _ := r.Config.Float("x")
		if r.Err != nil || r.Metrics["y"] != 3*x*x || len(r.MetricsHistory) != 3 {
			t.Errorf("trial %s: %v %v %d results", r.TrialID, r.Err, r.Metrics, len(r.MetricsHistory))
		}
	}
	if _, err := (&Tuner{Trainable: Registered{name: "tune.test.nope"}}).Fit(t.Context()); !errors.Is(err, core.ErrNotRegistered) {
		t.Errorf("unknown name: got %v, want ErrNotRegistered", err)
	}
}

// TestTrialActorNeedsItsTrainableByName: an actor whose process does not
// know the trainable's name fails to start, saying so.
func TestTrialActorNeedsItsTrainableByName(t *testing.T) {
	h, err := trialClass.Remote(t.Context(), runSpec{Trainable: "tune.test.unknown", TrialID: "00000", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Kill(h)
	if err := h.Ready(t.Context()); !errors.Is(err, core.ErrNotRegistered) || !strings.Contains(err.Error(), "tune.test.unknown") {
		t.Fatalf("got %v, want ErrNotRegistered naming the trainable", err)
	}
}

// TestKilledTrialActorStopsItsTrainable: the goroutine a trial's actor runs
// its trainable in ends when the actor is killed, and the call waiting on
// it fails.
func TestKilledTrialActorStopsItsTrainable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	started, ended := make(chan struct{}), make(chan error, 1)
	name, release := holdDerivedName("tune.test.kill", func(tc Context, c Config) error {
		close(started)
		<-tc.Done() // never reports: runs until its actor goes
		ended <- tc.Err()
		return tc.Err()
	})
	defer release()
	h, err := trialClass.Remote(ctx, runSpec{Trainable: name, TrialID: "00000", Run: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	next := trialNext.Remote(ctx, h, Continue)
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the trainable did not start")
	}
	if err := core.Kill(h); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the trainable's context ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the trainable still runs after its actor was killed")
	}
	if _, err := core.Get(ctx, next); err == nil {
		t.Error("the Next call waiting on a killed actor succeeded")
	}
}

// TestTrialActorReportsAndDecisions drives a trial's actor by hand, as the
// controller does: each Next returns one report and hands the previous one
// its decision; a Stop decision ends the trainable with ErrTrialStopped.
func TestTrialActorReportsAndDecisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	name, release := holdDerivedName("tune.test.drive", func(tc Context, c Config) error {
		for i := 0; ; i++ {
			if err := tc.Report(map[string]float64{"i": float64(i)}, nil); err != nil {
				return fmt.Errorf("after %d reports: %w", i+1, err)
			}
		}
	})
	defer release()
	h, err := trialClass.Remote(ctx, runSpec{Trainable: name, TrialID: "00000", Run: 1, Dir: t.TempDir(), StartIter: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Kill(h)
	for i := range 3 {
		r, err := core.Get(ctx, trialNext.Remote(ctx, h, Continue))
		if err != nil || r.Done || r.Metrics["i"] != float64(i) || r.Metrics["training_iteration"] != float64(11+i) {
			t.Fatalf("report %d: %+v, %v", i, r, err)
		}
	}
	_, err = core.Get(ctx, trialNext.Remote(ctx, h, Stop))
	if !errors.Is(err, ErrTrialStopped) || !strings.Contains(err.Error(), "after 3 reports") {
		t.Fatalf("after Stop: %v; want the trainable's ErrTrialStopped after 3 reports", err)
	}
	// The run is over: Cancel returns the trainable's error at once.
	if _, err := core.Get(ctx, trialCancel.Remote(ctx, h)); !errors.Is(err, ErrTrialStopped) {
		t.Errorf("Cancel after the end: %v", err)
	}
}

// TestConcurrentExperimentsKeepTheirClosures: two experiments running at
// once with closures of one func literal each run their own closure.
func TestConcurrentExperimentsKeepTheirClosures(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var both sync.WaitGroup
	both.Add(2)
	bothRunning := make(chan struct{})
	go func() { both.Wait(); close(bothRunning) }()
	var once [2]sync.Once
	mk := func(k int) TrainableFunc {
		return func(tc Context, c Config) error {
			once[k].Do(both.Done)
			select { // both experiments hold their trainable now
			case <-bothRunning:
			case <-tc.Done():
				return tc.Err()
			}
			return tc.Report(map[string]float64{"k": float64(k)}, nil)
		}
	}
	dir := t.TempDir()
	grids := make([]*ResultGrid, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tuner := Tuner{Trainable: mk(k), RunConfig: RunConfig{StoragePath: dir, Name: fmt.Sprint("closure", k)}}
			grids[k], errs[k] = tuner.Fit(ctx)
		}()
	}
	wg.Wait()
	for k := range 2 {
		if errs[k] != nil {
			t.Fatalf("experiment %d: %v", k, errs[k])
		}
		for _, r := range grids[k].Results() {
			if r.Metrics["k"] != float64(k) {
				t.Errorf("experiment %d ran the closure of experiment %v", k, r.Metrics["k"])
			}
		}
	}
}

// TestTrialActorCancelledBeforeItStarts: a run cancelled before its first
// Next never runs its trainable and does not look finished: it ends with
// context.Canceled, so an interrupted experiment keeps the trial to resume.
func TestTrialActorCancelledBeforeItStarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ran := make(chan struct{}, 1)
	name, release := holdDerivedName("tune.test.never", func(tc Context, c Config) error {
		ran <- struct{}{}
		return nil
	})
	defer release()
	h, err := trialClass.Remote(ctx, runSpec{Trainable: name, TrialID: "00000", Run: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Kill(h)
	if _, err := core.Get(ctx, trialCancel.Remote(ctx, h)); !errors.Is(err, context.Canceled) {
		t.Errorf("Cancel before the start: %v, want context.Canceled", err)
	}
	if _, err := core.Get(ctx, trialNext.Remote(ctx, h, Continue)); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after Cancel: %v, want context.Canceled", err)
	}
	select {
	case <-ran:
		t.Error("the trainable ran after its run was cancelled")
	default:
	}
}
