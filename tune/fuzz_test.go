package tune

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzResultLine: result.json lines are read back by Restore; any input
// must give a result or an error, never a panic.
func FuzzResultLine(f *testing.F) {
	f.Add([]byte(`{"loss":0.5,"training_iteration":3}`))
	f.Add([]byte(`{"x":"NaN","y":"+Inf","z":"-Inf"}`))
	f.Add([]byte(`{"a":`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseResultLine(line)
		if err == nil {
			keys := sortedKeys(m)
			back, err := parseResultLine(appendResultJSON(nil, keys, m))
			if err != nil || len(back) != len(m) {
				t.Fatalf("round trip of %v: %v %v", m, back, err)
			}
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, resultFile), line, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = readResults(filepath.Join(dir, resultFile))
	})
}

// FuzzStateValue: configs and param spaces in experiment_state.json.
func FuzzStateValue(f *testing.F) {
	for _, v := range []any{
		map[string]any{"i": 3, "f": 2.0, "d": Uniform(1, 2), "n": map[string]any{"c": Choice(1, "a")}},
		map[string]any{"g": GridSearch(1.5, 2), "q": QRandInt(1, 9, 2), "r": RandN(0, 1), "x": encodeFloat(1)},
	} {
		enc, _ := encodeTyped(v)
		b, _ := json.Marshal(enc)
		f.Add(b)
	}
	f.Add([]byte(`{"$domain":"float","lo":5,"hi":1}`))
	f.Add([]byte(`{"$float":"NaN"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeTypedJSON(b)
		if err != nil {
			return
		}
		if m, ok := v.(map[string]any); ok {
			_ = validateSpace(m) // a decoded space is validated, not trusted
		}
	})
}

// FuzzConfigWire: a trial's config as it reaches the trial's actor from
// another process. Any input gives a config or an error, never a panic, and
// a decoded config encodes again.
func FuzzConfigWire(f *testing.F) {
	for _, c := range []Config{
		{"lr": 0.1, "n": 3, "tags": []string{"a"}, "p": map[string]any{"d": int64(4), "l": []any{1, "x"}}},
		{"w": map[string]float64{"a": 1}, "c": Config{"k": uint8(3)}, "none": nil},
		nil,
	} {
		b, err := c.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x61, 0x74, 0x63, 0x69, 0x6e, 0x74})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		if err := c.UnmarshalBinary(b); err != nil {
			return
		}
		if _, err := c.MarshalBinary(); err != nil {
			t.Fatalf("decoded config %v does not encode: %v", c, err)
		}
	})
}
