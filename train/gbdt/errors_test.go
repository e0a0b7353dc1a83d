package gbdt_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/train/gbdt"
)

func TestParamErrors(t *testing.T) {
	m, err := gbdt.NewMatrix([]string{"x"}, [][]float64{{1, 2, 3, 4}}, []float64{0, 1, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		params gbdt.Params
		want   []string // substrings of the error
	}{
		"unknown":             {gbdt.Params{"max_dept": 3}, []string{`"max_dept"`, "known parameters", "max_depth"}},
		"bad type":            {gbdt.Params{"max_depth": "6"}, []string{`"max_depth"`, "integer"}},
		"fractional int":      {gbdt.Params{"max_depth": 2.5}, []string{`"max_depth"`, "integer"}},
		"depth 0":             {gbdt.Params{"max_depth": 0}, []string{`"max_depth"`, "max_leaves"}},
		"eta type":            {gbdt.Params{"eta": []int{1}}, []string{`"eta"`, "number"}},
		"eta zero":            {gbdt.Params{"eta": 0}, []string{`"eta"`}},
		"subsample range":     {gbdt.Params{"subsample": 1.5}, []string{`"subsample"`, "range"}},
		"objective":           {gbdt.Params{"objective": "rank:pairwise"}, []string{`"objective"`, "rank:pairwise"}},
		"multi no num_class":  {gbdt.Params{"objective": "multi:softprob"}, []string{"num_class"}},
		"metric unknown":      {gbdt.Params{"eval_metric": "ndcg"}, []string{`"eval_metric"`, "ndcg"}},
		"metric wrong obj":    {gbdt.Params{"eval_metric": []string{"logloss", "mlogloss"}}, []string{"mlogloss", "binary:logistic"}},
		"metric list type":    {gbdt.Params{"eval_metric": []any{"auc", 3}}, []string{`"eval_metric"[1]`}},
		"alias twice":         {gbdt.Params{"eta": 0.1, "learning_rate": 0.2}, []string{`"eta"`, `"learning_rate"`}},
		"grow_policy":         {gbdt.Params{"grow_policy": "random"}, []string{`"grow_policy"`}},
		"tree_method":         {gbdt.Params{"tree_method": "exact"}, []string{`"tree_method"`, "hist"}},
		"early stop no valid": {gbdt.Params{"early_stopping_rounds": 3}, []string{"early_stopping_rounds"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gbdt.Train(t.Context(), m, nil, tc.params, 2)
			if !errors.Is(err, gbdt.ErrInvalidParam) {
				t.Fatalf("err = %v, want ErrInvalidParam", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Accepted forms: JSON numbers, aliases, lists.
	_, err = gbdt.Train(t.Context(), m, nil, gbdt.Params{"max_depth": 3.0, "learning_rate": 0.5, "eval_metric": []any{"auc"}, "seed": int64(3), "min_child_weight": 0}, 2)
	if err != nil {
		t.Errorf("valid params refused: %v", err)
	}
}

func TestDataErrors(t *testing.T) {
	cols := [][]float64{{1, 2, 3, 4}}
	for name, tc := range map[string]struct {
		labels []float64
		params gbdt.Params
		want   string
	}{
		"binary label 2":    {[]float64{0, 1, 2, 1}, gbdt.Params{}, "row 2: label 2 is not 0 or 1"},
		"multi label 3":     {[]float64{0, 1, 2, 3}, gbdt.Params{"objective": "multi:softprob", "num_class": 3}, "row 3: label 3 is not a class in [0, 3)"},
		"multi label 0.5":   {[]float64{0, 0.5, 2, 1}, gbdt.Params{"objective": "multi:softprob", "num_class": 3}, "row 1: label 0.5"},
		"multi negative":    {[]float64{-1, 0, 2, 1}, gbdt.Params{"objective": "multi:softmax", "num_class": 3}, "row 0: label -1"},
		"regression inf":    {[]float64{0, math.Inf(1), 2, 1}, gbdt.Params{"objective": "reg:squarederror"}, "row 1: label is +Inf"},
		"no labels (train)": {nil, gbdt.Params{}, "no label column"},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := gbdt.NewMatrix([]string{"x"}, cols, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			_, err = gbdt.Train(t.Context(), m, nil, tc.params, 1)
			if !errors.Is(err, gbdt.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidInput mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := gbdt.NewMatrix([]string{"x"}, cols, []float64{0, math.NaN(), 1, 1}); !errors.Is(err, gbdt.ErrInvalidInput) || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("NaN label: %v", err)
	}
	// An evaluation set with other features.
	m, _ := gbdt.NewMatrix([]string{"x"}, cols, []float64{0, 1, 0, 1})
	other, _ := gbdt.NewMatrix([]string{"y"}, cols, []float64{0, 1, 0, 1})
	if _, err := gbdt.Train(t.Context(), m, map[string]*gbdt.Matrix{"valid": other}, nil, 1); !errors.Is(err, gbdt.ErrInvalidInput) || !strings.Contains(err.Error(), `"valid"`) {
		t.Errorf("eval set features: %v", err)
	}
}

func record(t *testing.T, fields []arrow.Field, build func(b *array.RecordBuilder)) arrow.Record {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	build(b)
	return b.NewRecord()
}

func TestMatrixFromRecords(t *testing.T) {
	fields := []arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int32},
		{Name: "c", Type: arrow.PrimitiveTypes.Float32},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "y", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}
	rec := func(yNull bool) arrow.Record {
		return record(t, fields, func(b *array.RecordBuilder) {
			b.Field(0).(*array.Float64Builder).AppendValues([]float64{1.5, 0}, []bool{true, false})
			b.Field(1).(*array.Int32Builder).AppendValues([]int32{7, 8}, nil)
			b.Field(2).(*array.Float32Builder).AppendValues([]float32{0.5, 0.25}, nil)
			b.Field(3).(*array.StringBuilder).AppendValues([]string{"x", "y"}, nil)
			b.Field(4).(*array.Int64Builder).AppendValues([]int64{1, 0}, []bool{true, !yNull})
		})
	}
	r1, r2, bad := rec(false), rec(false), rec(true)
	defer r1.Release()
	defer r2.Release()
	defer bad.Release()

	m, err := gbdt.MatrixFromRecords([]arrow.Record{r1, r2}, "y", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if m.NumRows() != 4 || !math.IsNaN(m.Column(0)[1]) || m.Column(1)[2] != 7 || m.Column(2)[3] != 0.25 || m.Labels()[0] != 1 {
		t.Errorf("matrix = %v %v %v labels %v", m.Column(0), m.Column(1), m.Column(2), m.Labels())
	}
	for name, tc := range map[string]struct {
		recs     []arrow.Record
		label    string
		features []string
		want     string
	}{
		"label missing":    {[]arrow.Record{r1}, "target", []string{"a"}, `label column "target" not found`},
		"feature missing":  {[]arrow.Record{r1}, "y", []string{"a", "zz"}, `column "zz" not found`},
		"non-numeric":      {[]arrow.Record{r1}, "y", nil, `feature column "name" has type utf8`},
		"non-numeric lbl":  {[]arrow.Record{r1}, "name", []string{"a"}, `label column "name" has type utf8`},
		"null label row 3": {[]arrow.Record{r1, bad}, "y", []string{"a"}, `label column "y" is null in row 3`},
		"label as feature": {[]arrow.Record{r1}, "y", []string{"a", "y"}, "also listed as a feature"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gbdt.MatrixFromRecords(tc.recs, tc.label, tc.features)
			if !errors.Is(err, gbdt.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidInput mentioning %q", err, tc.want)
			}
		})
	}
}
