package gbdt_test

import (
	"testing"

	"github.com/goray/goray/train/gbdt"
)

func TestBreastCancer(t *testing.T) {
	dtrain, dtest := breastCancer(t)
	params := gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "eval_metric": []string{"logloss", "auc", "error"}}
	b, err := gbdt.Train(t.Context(), dtrain, map[string]*gbdt.Matrix{"train": dtrain, "test": dtest}, params, 20)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Predict(dtest)
	if err != nil {
		t.Fatal(err)
	}
	auc, ll := aucOf(dtest.Labels(), p), loglossOf(dtest.Labels(), p)
	h := b.EvalHistory()
	t.Logf("test AUC %.4f logloss %.4f; first round %v last round %v", auc, ll, h[0], h[len(h)-1])
	if auc < 0.99 || ll > 0.10 {
		t.Errorf("test AUC %.4f (want >= 0.99), logloss %.4f (want <= 0.10)", auc, ll)
	}
}
