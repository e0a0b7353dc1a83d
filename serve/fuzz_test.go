package serve

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/goray/goray/checkpoint"
)

func mixedSchema(t testing.TB) *InputSchema {
	in, err := NewInputSchema([]checkpoint.Feature{
		{Name: "x", Type: "float64"}, {Name: "n", Type: "int32"}, {Name: "ok", Type: "bool"},
		{Name: "s", Type: "utf8"}, {Name: "u", Type: "uint8"}, {Name: "f", Type: "float32"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

var jsonSeeds = []string{
	`[{"x": 1.5, "n": -3, "ok": true, "s": "a", "u": 7, "f": 0.25}]`,
	`{"x": 1e3, "n": 2.0, "ok": false, "s": "\u00e9\n", "u": 0, "f": -1}`,
	`{"columns": ["s", "x", "n", "ok", "u", "f"], "data": [["b", 2, 3, true, 255, 1.5], ["c", -0.5, 0, false, 1, 2]], "index": [0, 1]}`,
	`{"data": [[1, 2, true, "x", 3, 4]], "columns": ["x", "n", "ok", "s", "u", "f"]}`,
	`[{"x": 1, "n": 1.5}]`, `[{"x": null}]`, `[]`, ``, `[{"x": 1, "x": 2}]`, `{"columns": [], "data": []}`,
	`[{"x": "1"}]`, `[[1]]`, `{"x": 1, "n": 99999999999, "ok": true, "s": "", "u": 256, "f": 1e39}`,
	`[{"\ud83d\ude00": 1}]`, `{"columns": ["x"], "data": [[1, [2, {"a": 3}]]]}`,
}

// FuzzDecodeJSON: any body either decodes into a record whose rows match
// what encoding/json sees, or fails with a 400 that wraps ErrInvalidInput;
// it never panics and never accepts invalid JSON.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	in := mixedSchema(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, err := in.DecodeJSON(body)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Status != 400 || !errors.Is(err, ErrInvalidInput) || se.Message == "" {
				t.Fatalf("error %v (%T) is not a 400 naming the problem", err, err)
			}
			return
		}
		defer rec.Release()
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		rows := 1
		switch v := v.(type) {
		case []any:
			rows = len(v)
		case map[string]any:
			if d, ok := v["data"].([]any); ok {
				if _, isRecord := v["x"]; !isRecord {
					rows = len(d)
				}
			}
		}
		if int(rec.NumRows()) != rows || rec.NumCols() != int64(len(in.Features)) {
			t.Fatalf("%q: record %dx%d, encoding/json sees %d rows", body, rec.NumRows(), rec.NumCols(), rows)
		}
		for _, c := range rec.Columns() {
			if c.Len() != rows {
				t.Fatalf("column of length %d in a %d-row record", c.Len(), rows)
			}
		}
	})
}

// FuzzPredictorHandler: whatever the body, method or path, the predictor
// deployment answers it or refuses with a 4xx; a 5xx would mean bad input
// reached the model.
func FuzzPredictorHandler(f *testing.F) {
	names, rows := bcData(f)
	f.Add("POST", "/", []byte(recordsJSON(names, rows[:2])))
	f.Add("POST", "/", []byte(columnarJSON(names, rows[:2])))
	f.Add("GET", "/", []byte(nil))
	f.Add("POST", "/x", []byte(`[]`))
	f.Add("PATCH", "/", []byte(`{}`))
	for _, s := range jsonSeeds {
		f.Add("POST", "/", []byte(s))
	}
	h, err := NewPredictorHandler(linearCheckpoint(f, f.TempDir(), 1), linearFactory, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		resp, err := h.ServeRequest(context.Background(), &Request{Method: method, Path: path, Body: body})
		if err != nil {
			if code, msg := statusOf(err); code < 400 || code > 499 || msg == "" {
				t.Fatalf("%s %s %q: answered %d %q", method, path, body, code, msg)
			}
			return
		}
		var out map[string]any
		if err := json.Unmarshal(resp.Body, &out); err != nil {
			t.Fatalf("answer %q is not JSON: %v", resp.Body, err)
		}
	})
}
