package serve

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecodeJSON1RowEncodingJSON is the baseline for
// BenchmarkDecodeJSON1Row: encoding/json decoding the same one-row request
// into []map[string]any. It stops before building the Arrow record that
// DecodeJSON also builds, so it favours encoding/json.
func BenchmarkDecodeJSON1RowEncodingJSON(b *testing.B) {
	names, rows := bcData(b)
	body := []byte(recordsJSON(names, rows[:1]))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var v []map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
		if len(v) != 1 {
			b.Fatalf("decoded %d rows, want 1", len(v))
		}
	}
}
