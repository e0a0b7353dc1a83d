package cifar10

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadDirFormat writes files byte by byte as the CIFAR-10 distribution
// lays them out and checks every label and pixel plane is read back.
func TestReadDirFormat(t *testing.T) {
	dir := t.TempDir()
	want := map[string]*Set{}
	for fi, f := range append(append([]string(nil), TrainFiles...), TestFile) {
		var raw []byte
		s := &Set{}
		for r := 0; r < 3; r++ {
			label := byte((fi + r) % NumClasses)
			raw = append(raw, label)
			for c := 0; c < Channels; c++ {
				for p := 0; p < Height*Width; p++ {
					raw = append(raw, byte(c*80+(p+r+fi)%70)) // plane c recognisable
				}
			}
			s.Labels = append(s.Labels, label)
		}
		s.Pixels = nil
		for r := 0; r < 3; r++ {
			s.Pixels = append(s.Pixels, raw[r*RecordSize+1:(r+1)*RecordSize]...)
		}
		want[f] = s
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	train, test, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 15 || test.Len() != 3 {
		t.Fatalf("read %d train and %d test images, want 15 and 3", train.Len(), test.Len())
	}
	for i, f := range TrainFiles {
		for r := 0; r < 3; r++ {
			k := i*3 + r
			if train.Labels[k] != want[f].Labels[r] || !bytes.Equal(train.Image(k), want[f].Image(r)) {
				t.Fatalf("%s record %d read wrongly", f, r)
			}
		}
	}
	// Green plane of test record 1 starts at byte 1+1024 of the record.
	if g := test.Image(1)[Height*Width]; g != 80+(0+1+5)%70 {
		t.Fatalf("green plane read as %d", g)
	}
	if !bytes.Equal(Encode(test), mustRead(t, filepath.Join(dir, TestFile))) {
		t.Fatal("Encode does not reproduce the file")
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadFiles(t *testing.T) {
	good := Encode(Synthetic(3, 1))
	badLabel := bytes.Clone(good)
	badLabel[RecordSize] = 12
	tests := map[string]struct {
		b    []byte
		want string
	}{
		"truncated": {good[:2*RecordSize+100], "record 2 has 100 of 3073 bytes"},
		"empty":     {nil, "empty"},
		"label":     {badLabel, "record 1: label 12"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "data_batch_1.bin")
			os.WriteFile(p, tc.b, 0o644)
			_, err := ReadFile(p)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want ErrFormat naming %s and %q", err, p, tc.want)
			}
		})
	}
	if _, _, err := ReadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Fatalf("missing directory contents: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	s := Synthetic(5, 2)
	rec := s.Record(nil)
	defer rec.Release()
	back, err := FromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Pixels, s.Pixels) || !bytes.Equal(back.Labels, s.Labels) {
		t.Fatal("arrow round trip changed the set")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Synthetic(1, 1)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b, "fuzz")
		if err == nil && s.Len()*RecordSize != len(b) {
			t.Fatalf("decoded %d records from %d bytes", s.Len(), len(b))
		}
	})
}
