package preprocess

import (
	"testing"
)

// FuzzUnmarshal feeds arbitrary bytes to Unmarshal (it reads checkpoint
// files): it must return an error or a preprocessor, never panic, and a
// preprocessor it returns must not panic on a batch.
func FuzzUnmarshal(f *testing.F) {
	for _, p := range []Preprocessor{
		NewStandardScaler("a"), NewOneHotEncoder("s"), NewRobustScaler("a"),
		NewChain(NewSimpleImputer(ImputeMean, "a"), NewKBinsDiscretizer(3, BinsUniform, "a")),
		NewCountVectorizer("txt"), NewCustomKBinsDiscretizer([]float64{0, 1}, "a"),
	} {
		rec := mixedData()[0]
		if pl, ok := p.(planner); ok {
			plan, _ := pl.plan()
			pt, _ := plan.fitBlock(rec)
			_ = plan.finishParts(p.TypeName(), []partial{pt})
		} else if c, ok := p.(*Chain); ok {
			for _, s := range c.Stages {
				_ = fitRecs(s, rec)
			}
		}
		b, err := Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"OneHotEncoder","state":{"columns":["s"],"stats":{"s":{"kind":"int","values":["x"]}}}}`))
	f.Add([]byte(`{"type":"Chain","state":{"stages":[null]}}`))
	batch := mixedData()[1]
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			return
		}
		if out, err := p.TransformBatch(batch); err == nil {
			out.Release()
		}
		_, _ = Marshal(p)
	})
}
