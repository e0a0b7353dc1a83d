package tune

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The reader below is independent of the writer: its own crc32c (bitwise,
// no table) and its own protobuf field decoder.

func crc32cBitwise(b []byte) uint32 {
	crc := ^uint32(0)
	for _, x := range b {
		crc ^= uint32(x)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ 0x82f63b78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func unmask(m uint32) uint32 {
	r := m - 0xa282ead8
	return (r >> 17) | (r << 15)
}

type pbField struct {
	num   int
	wire  int
	value uint64 // varint, fixed32, fixed64
	bytes []byte // length-delimited
}

func decodeFields(b []byte) ([]pbField, error) {
	var out []pbField
	varint := func() (uint64, error) {
		var v uint64
		for shift := 0; shift < 64; shift += 7 {
			if len(b) == 0 {
				return 0, fmt.Errorf("truncated varint")
			}
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v, nil
			}
		}
		return 0, fmt.Errorf("varint too long")
	}
	for len(b) > 0 {
		key, err := varint()
		if err != nil {
			return nil, err
		}
		f := pbField{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case 0:
			if f.value, err = varint(); err != nil {
				return nil, err
			}
		case 1:
			if len(b) < 8 {
				return nil, fmt.Errorf("truncated fixed64")
			}
			f.value, b = binary.LittleEndian.Uint64(b), b[8:]
		case 5:
			if len(b) < 4 {
				return nil, fmt.Errorf("truncated fixed32")
			}
			f.value, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case 2:
			n, err := varint()
			if err != nil || uint64(len(b)) < n {
				return nil, fmt.Errorf("bad length")
			}
			f.bytes, b = b[:n], b[n:]
		default:
			return nil, fmt.Errorf("wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

type tbEvent struct {
	wall    float64
	step    int64
	version string
	scalars map[string]float32
}

// readEvents reads a TFRecord file of Event messages, checking both CRCs
// of every record.
func readEvents(t *testing.T, path string) []tbEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []tbEvent
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("truncated record header")
		}
		n := binary.LittleEndian.Uint64(b)
		if got := unmask(binary.LittleEndian.Uint32(b[8:])); got != crc32cBitwise(b[:8]) {
			t.Fatalf("length crc mismatch")
		}
		data := b[12 : 12+n]
		if got := unmask(binary.LittleEndian.Uint32(b[12+n:])); got != crc32cBitwise(data) {
			t.Fatalf("data crc mismatch")
		}
		b = b[16+n:]
		fields, err := decodeFields(data)
		if err != nil {
			t.Fatal(err)
		}
		ev := tbEvent{scalars: map[string]float32{}}
		for _, f := range fields {
			switch {
			case f.num == 1 && f.wire == 1:
				ev.wall = math.Float64frombits(f.value)
			case f.num == 2 && f.wire == 0:
				ev.step = int64(f.value)
			case f.num == 3 && f.wire == 2:
				ev.version = string(f.bytes)
			case f.num == 5 && f.wire == 2:
				vals, err := decodeFields(f.bytes)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					inner, err := decodeFields(v.bytes)
					if err != nil || v.num != 1 {
						t.Fatalf("summary value: %v", err)
					}
					var tag string
					var val float32
					for _, x := range inner {
						if x.num == 1 {
							tag = string(x.bytes)
						}
						if x.num == 2 && x.wire == 5 {
							val = math.Float32frombits(uint32(x.value))
						}
					}
					ev.scalars[tag] = val
				}
			default:
				t.Fatalf("unexpected field %d wire %d", f.num, f.wire)
			}
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestTensorBoardEventsDecode(t *testing.T) {
	tuner := Tuner{
		Trainable: func(tc Context, c Config) error {
			for i := 1; i <= 3; i++ {
				if err := tc.Report(map[string]float64{"loss": 1 / float64(i), "acc": 0.25 * float64(i)}, nil); err != nil {
					return err
				}
			}
			return nil
		},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "tb"},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(g.Get(0).Path, "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("event files: %v", files)
	}
	evs := readEvents(t, files[0])
	if len(evs) != 4 || evs[0].version != "brain.Event:2" || evs[0].wall == 0 {
		t.Fatalf("got %d events, first %+v; want a file_version event and 3 results", len(evs), evs[0])
	}
	for i, ev := range evs[1:] {
		want := float32(1 / float64(i+1))
		if ev.step != int64(i+1) || ev.scalars["loss"] != want || ev.scalars["acc"] != float32(0.25*float64(i+1)) ||
			ev.scalars["training_iteration"] != float32(i+1) || ev.wall < evs[0].wall-1 {
			t.Errorf("event %d = %+v", i+1, ev)
		}
	}
}
