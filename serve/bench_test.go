package serve

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

func BenchmarkDecodeJSON1Row(b *testing.B) {
	names, rows := bcData(b)
	body := []byte(recordsJSON(names, rows[:1]))
	h, err := NewPredictorHandler(linearCheckpoint(b, b.TempDir(), 1), linearFactory, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rec, err := h.Schema().DecodeJSON(body)
		if err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
}

func BenchmarkPredictorHandler1Row(b *testing.B) {
	names, rows := bcData(b)
	body := []byte(recordsJSON(names, rows[:1]))
	h, err := NewPredictorHandler(linearCheckpoint(b, b.TempDir(), 1), linearFactory, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ServeRequest(ctx, &Request{Method: "POST", Path: "/", Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngressOverhead measures the serving path (HTTP handler, router,
// actor call, metrics) around a handler that does nothing, without the
// network.
func BenchmarkIngressOverhead(b *testing.B) {
	d := Deployment{Name: "nop", RoutePrefix: "/nop", NumReplicas: 2, MaxOngoingRequests: 64,
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				return &Response{Body: []byte(`{}`)}, nil
			}), nil
		}}
	s := testServer(b, NewApp(d))
	h := s.httpSrv.Handler
	body := []byte(`{}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/nop", bytes.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}

// BenchmarkBareHandler is the same request through a plain handler, for
// comparison with BenchmarkIngressOverhead.
func BenchmarkBareHandler(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	})
	body := []byte(`{}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/nop", bytes.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkDemoHandler1Row is one row through the demo's predictor (gbdt
// with a StandardScaler preprocessor), on the row path and on the Arrow
// path.
func BenchmarkDemoHandler1Row(b *testing.B) {
	names, rows, labels := bcFull(b)
	ckpt := gbdtCheckpoint(b, names, rows, labels, gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": 6, "eta": 0.3},
		fitScaler(names, rows, "mean radius", "mean texture"), "")
	body := []byte(recordsJSON(names, rows[:1]))
	for _, tc := range []struct {
		name    string
		factory train.PredictorFactory
	}{{"row", gbdt.PredictorFactory}, {"arrow", arrowOnlyFactory}} {
		b.Run(tc.name, func(b *testing.B) {
			h, err := NewPredictorHandler(ckpt, tc.factory, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.ServeRequest(ctx, &Request{Method: "POST", Path: "/", Body: body}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeColumns1Row is the decoder alone on a one-row request
// whose keys come sorted (as json.Marshal writes a map), not in the
// schema's order: what the row path pays before scoring.
func BenchmarkDecodeColumns1Row(b *testing.B) {
	names, rows := bcData(b)
	body := []byte(recordsJSON(names, rows[:1]))
	in, err := NewInputSchema(linearCheckpoint(b, b.TempDir(), 1).Metadata().Features)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		c, err := in.decodeColumns(body)
		if err != nil {
			b.Fatal(err)
		}
		in.putColumns(c)
	}
}
