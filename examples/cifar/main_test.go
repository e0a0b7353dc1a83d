package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/examples/cifar/cifar10"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train/nn"
)

// TestSyntheticRunLearns runs the example end to end on a small synthetic
// set (2 workers, one learning rate, 2 epochs) and checks the test accuracy
// is well above chance (0.1).
// With no --storage its files go to a temporary directory that it removes,
// and nothing is written in the working directory or $HOME.
func TestSyntheticRunLearns(t *testing.T) {
	tmp, home, wd := t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("HOME", home)
	t.Chdir(wd)
	var out bytes.Buffer
	err := run(t.Context(), &out, []string{"--synthetic-per-file", "240", "--synthetic-test", "300",
		"--epochs", "2", "--lr", "0.005", "--serve", ""}, nil)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "results: "+tmp) {
		t.Errorf("the temporary results directory under %s was not announced", tmp)
	}
	for _, d := range []string{tmp, home, wd} {
		if ents, _ := os.ReadDir(d); len(ents) > 0 {
			t.Errorf("%s holds %v after the run, want nothing", d, ents)
		}
	}
	if !strings.Contains(out.String(), "SYNTHETIC") {
		t.Fatal("the synthetic fallback was not announced")
	}
	m := regexp.MustCompile(`test accuracy: ([0-9.]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no test accuracy printed")
	}
	if acc, _ := strconv.ParseFloat(m[1], 64); acc < 0.4 {
		t.Fatalf("test accuracy %v, want well above chance (>= 0.4)", acc)
	}
}

func TestHelpAndBadFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, []string{"--help"}, nil); err != nil {
		t.Errorf("--help: %v", err)
	}
	for _, want := range []string{"cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar.html", "-data-dir", "-storage"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help output lacks %q:\n%s", want, out.String())
		}
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	err := run(t.Context(), io.Discard, []string{"--data-dir", missing, "--storage", t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "cifar-10-binary.tar.gz") {
		t.Errorf("--data-dir that does not exist: %v", err)
	}
	empty := t.TempDir()
	err = run(t.Context(), io.Discard, []string{"--data-dir", empty, "--storage", t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), cifar10.TrainFiles[0]) {
		t.Errorf("--data-dir without the files: %v", err)
	}
	if err := run(t.Context(), io.Discard, []string{"--bogus"}, nil); !errors.Is(err, errUsage) {
		t.Errorf("--bogus: %v, want a usage error", err)
	}
}

// testServer serves an (untrained) CNN checkpoint with the example's
// deployment and returns its base URL.
func testServer(t *testing.T) string {
	t.Helper()
	// An earlier test's run shut the runtime down; serving needs one.
	if err := core.Init(); err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewModel(cnn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	norm := nn.Normalization{Scale: 1.0 / 255, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.25, 0.25, 0.25}}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if _, err := nn.SaveModel(dir, m, nn.SaveOptions{Classes: cifar10.ClassNames, Normalization: &norm}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.Start(t.Context(), serve.NewApp(classifierDeployment(ck)), serve.HTTPOptions{Port: serve.AnyPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "http://" + s.Addr()
}

func pngImage(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(8 * x), uint8(8 * y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func multipartBody(t *testing.T, file []byte) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("image", "x.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func TestEndpoint(t *testing.T) {
	base := testServer(t)
	arr := make([][][]float64, 3)
	for c := range arr {
		arr[c] = make([][]float64, 32)
		for y := range arr[c] {
			arr[c][y] = make([]float64, 32)
		}
	}
	good, _ := json.Marshal(map[string]any{"image": arr})
	arr[1] = arr[1][:31]
	short, _ := json.Marshal(map[string]any{"image": arr})
	mpType, mpBody := multipartBody(t, pngImage(t, 32, 32))
	tests := map[string]struct {
		contentType string
		body        []byte
		status      int
		errPart     string
	}{
		"png upload":        {"image/png", pngImage(t, 32, 32), 200, ""},
		"multipart form":    {mpType, mpBody, 200, ""},
		"3x32x32 array":     {"application/json", good, 200, ""},
		"wrong image size":  {"image/png", pngImage(t, 40, 30), 400, "40x30"},
		"wrong array shape": {"application/json", short, 400, "channel 1 has 31 rows"},
		"not an image":      {"image/png", []byte("hello"), 415, "not a PNG or JPEG"},
		"bad json":          {"application/json", []byte(`{"image": [1,`), 400, "JSON"},
		"empty":             {"image/png", nil, 400, "empty body"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Post(base+"/predict", tc.contentType, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status != 200 {
				if !strings.Contains(string(b), tc.errPart) {
					t.Fatalf("error %s does not mention %q", b, tc.errPart)
				}
				return
			}
			var p Prediction
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, s := range p.Scores {
				sum += s
			}
			if len(p.Scores) != 10 || math.Abs(sum-1) > 1e-4 || p.Class != p.Order[0] {
				t.Fatalf("bad prediction %+v", p)
			}
		})
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<input type="file"`) {
		t.Fatalf("GET /: %d %.200s", resp.StatusCode, page)
	}
}

// TestMain shuts the runtime that the serving tests start down, which
// removes its spill directory.
func TestMain(m *testing.M) {
	code := m.Run()
	core.Shutdown()
	os.Exit(code)
}
