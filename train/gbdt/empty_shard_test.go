package gbdt_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

// A worker may hold no rows at all (an empty shard).
func TestDistributedEmptyShard(t *testing.T) {
	dtrain, dtest := breastCancer(t)
	params := gbdt.Params{"max_depth": 4, "eval_metric": []string{"auc", "logloss"}}
	evals := map[string]*gbdt.Matrix{"test": dtest}
	one, err := gbdt.Train(t.Context(), dtrain, evals, params, 5)
	if err != nil {
		t.Fatal(err)
	}
	group := train.NewLocalGroup(2)
	out := make([]*gbdt.Booster, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			tr, te := dtrain, dtest
			if w == 1 {
				tr, te = dtrain.Slice(0, 0), dtest.Slice(0, 0)
			}
			out[w], errs[w] = gbdt.Train(t.Context(), tr, map[string]*gbdt.Matrix{"test": te}, params, 5, gbdt.WithCollective(group[w]))
		})
	}
	wg.Wait()
	for w := range 2 {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		if !bytes.Equal(modelText(t, one), modelText(t, out[w])) {
			t.Errorf("worker %d: model differs from 1 worker", w)
		}
		h1, hw := one.EvalHistory(), out[w].EvalHistory()
		if h1[4]["test-auc"] != hw[4]["test-auc"] {
			t.Errorf("worker %d: test-auc %v, 1 worker %v", w, hw[4]["test-auc"], h1[4]["test-auc"])
		}
	}
}
