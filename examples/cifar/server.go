package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for uploads
	_ "image/png"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/examples/cifar/cifar10"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train/nn"
)

// classifier answers the CIFAR endpoint:
//
//	GET  /          the upload page
//	POST /predict   a PNG or JPEG (raw body with an image/* content type, or a
//	                multipart form field "image"), or JSON {"image": [3][32][32]}
//	                with values 0–255; returns {"class": ..., "scores": {...}}
//
// Bad input is a 4xx with {"error": "..."}.
type classifier struct {
	p *nn.Predictor
}

// classifierDeployment serves the checkpoint at route "/".
func classifierDeployment(ckpt *checkpoint.Checkpoint) serve.Deployment {
	spec := cnn()
	return serve.Deployment{
		Name:        "cifar",
		RoutePrefix: "/",
		New: func(ctx context.Context, rc *serve.ReplicaContext) (serve.Handler, error) {
			p, err := nn.LoadPredictor(ckpt, &spec)
			if err != nil {
				return nil, err
			}
			return &classifier{p: p}, nil
		},
	}
}

// Prediction is the endpoint's answer.
type Prediction struct {
	Class  string             `json:"class"`
	Scores map[string]float64 `json:"scores"`
	Order  []string           `json:"order"` // class names, best first
}

func jsonResponse(status int, v any) *serve.Response {
	b, _ := json.Marshal(v)
	return &serve.Response{Status: status, ContentType: "application/json", Body: b}
}

func badRequest(format string, args ...any) *serve.Response {
	return jsonResponse(http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (c *classifier) ServeRequest(ctx context.Context, req *serve.Request) (*serve.Response, error) {
	switch {
	case req.Method == http.MethodGet && (req.Path == "/" || req.Path == ""):
		return &serve.Response{ContentType: "text/html; charset=utf-8", Body: []byte(indexHTML)}, nil
	case req.Path == "/predict" && req.Method == http.MethodPost:
		pixels, resp := decodeInput(req)
		if resp != nil {
			return resp, nil
		}
		pred, err := c.predict(ctx, pixels)
		if err != nil {
			return nil, err
		}
		return jsonResponse(http.StatusOK, pred), nil
	case req.Path == "/predict":
		return jsonResponse(http.StatusMethodNotAllowed, map[string]string{"error": "use POST /predict"}), nil
	}
	return jsonResponse(http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no route %s %s (GET / or POST /predict)", req.Method, req.Path)}), nil
}

func (c *classifier) predict(ctx context.Context, pixels []float32) (*Prediction, error) {
	scores, err := c.p.Scores(ctx, pixels, 1)
	if err != nil {
		return nil, err
	}
	names := c.p.Info().Classes
	if len(names) != len(scores) {
		names = make([]string, len(scores))
		for i := range names {
			names[i] = fmt.Sprint(i)
		}
	}
	pred := &Prediction{Scores: map[string]float64{}}
	for i, s := range scores {
		pred.Scores[names[i]] = float64(s)
		pred.Order = append(pred.Order, names[i])
	}
	for i := 1; i < len(pred.Order); i++ { // insertion sort, best first
		for j := i; j > 0 && pred.Scores[pred.Order[j]] > pred.Scores[pred.Order[j-1]]; j-- {
			pred.Order[j], pred.Order[j-1] = pred.Order[j-1], pred.Order[j]
		}
	}
	pred.Class = pred.Order[0]
	return pred, nil
}

// decodeInput returns the 3×32×32 pixel values (CHW, 0–255) of a request, or
// a 4xx response saying what is wrong.
func decodeInput(req *serve.Request) ([]float32, *serve.Response) {
	if len(req.Body) == 0 {
		return nil, badRequest("empty body: send a 32x32 PNG or JPEG, or JSON {\"image\": [3][32][32]}")
	}
	ct := ""
	if req.Header != nil {
		ct = req.Header.Get("Content-Type")
	}
	mt, params, _ := mime.ParseMediaType(ct)
	switch {
	case mt == "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(req.Body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return nil, badRequest("multipart form has no \"image\" file field")
			}
			if part.FormName() != "image" {
				continue
			}
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(part); err != nil {
				return nil, badRequest("reading the uploaded file: %v", err)
			}
			return decodeImage(buf.Bytes())
		}
	case mt == "application/json" || (mt == "" && bytes.HasPrefix(bytes.TrimSpace(req.Body), []byte("{"))):
		return decodeArray(req.Body)
	default:
		return decodeImage(req.Body)
	}
}

func decodeImage(b []byte) ([]float32, *serve.Response) {
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, &serve.Response{Status: http.StatusUnsupportedMediaType, ContentType: "application/json",
			Body: mustJSON(map[string]string{"error": fmt.Sprintf("not a PNG or JPEG image: %v", err)})}
	}
	r := img.Bounds()
	if r.Dx() != cifar10.Width || r.Dy() != cifar10.Height {
		return nil, badRequest("%s image is %dx%d pixels; the model takes %dx%d", format, r.Dx(), r.Dy(), cifar10.Width, cifar10.Height)
	}
	px := make([]float32, cifar10.ImageSize)
	plane := cifar10.Height * cifar10.Width
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			cr, cg, cb, _ := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
			i := y*cifar10.Width + x
			px[i], px[plane+i], px[2*plane+i] = float32(cr>>8), float32(cg>>8), float32(cb>>8)
		}
	}
	return px, nil
}

func decodeArray(b []byte) ([]float32, *serve.Response) {
	var in struct {
		Image [][][]float64 `json:"image"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		}
		return nil, badRequest("JSON body must be {\"image\": [3][32][32] numbers}: %v", err)
	}
	if len(in.Image) != cifar10.Channels {
		return nil, badRequest("image has %d channels; want [3][32][32] (channel, row, column)", len(in.Image))
	}
	px := make([]float32, 0, cifar10.ImageSize)
	for c, rows := range in.Image {
		if len(rows) != cifar10.Height {
			return nil, badRequest("image channel %d has %d rows; want 32", c, len(rows))
		}
		for y, row := range rows {
			if len(row) != cifar10.Width {
				return nil, badRequest("image channel %d row %d has %d values; want 32", c, y, len(row))
			}
			for x, v := range row {
				if v < 0 || v > 255 {
					return nil, badRequest("image[%d][%d][%d] = %v; pixel values are 0-255", c, y, x, v)
				}
				px = append(px, float32(v))
			}
		}
	}
	return px, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// indexHTML is the upload page: pick an image, it is posted to /predict and
// the scores are drawn as bars.
var indexHTML = strings.TrimSpace(`
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>goray CIFAR-10 classifier</title>
<style>
body { font-family: sans-serif; max-width: 40em; margin: 2em auto; }
#preview { image-rendering: pixelated; width: 128px; height: 128px; border: 1px solid #ccc; }
table { border-collapse: collapse; margin-top: 1em; }
td { padding: 2px 8px; }
.bar { background: #4a7; height: 12px; }
#error { color: #b00; }
</style>
</head>
<body>
<h1>CIFAR-10 classifier</h1>
<p>Upload a 32&times;32 PNG or JPEG image.</p>
<form id="form">
  <input type="file" id="file" name="image" accept="image/png,image/jpeg">
  <button type="submit" id="submit">Classify</button>
</form>
<p><img id="preview" alt=""></p>
<p id="result"></p>
<p id="error"></p>
<table id="scores"></table>
<script>
const form = document.getElementById('form');
const file = document.getElementById('file');
file.addEventListener('change', () => {
  if (file.files.length) document.getElementById('preview').src = URL.createObjectURL(file.files[0]);
});
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  document.getElementById('error').textContent = '';
  document.getElementById('result').textContent = '';
  const table = document.getElementById('scores');
  table.innerHTML = '';
  if (!file.files.length) { document.getElementById('error').textContent = 'Choose an image first.'; return; }
  const body = new FormData();
  body.append('image', file.files[0]);
  const resp = await fetch('predict', { method: 'POST', body });
  const out = await resp.json();
  if (!resp.ok) { document.getElementById('error').textContent = out.error; return; }
  document.getElementById('result').textContent = 'Class: ' + out.class;
  for (const name of out.order) {
    const p = out.scores[name];
    const row = table.insertRow();
    row.className = 'score';
    row.insertCell().textContent = name;
    row.insertCell().textContent = p.toFixed(3);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = Math.round(p * 200) + 'px';
    row.insertCell().appendChild(bar);
  }
  document.body.dataset.done = '1';
});
</script>
</body>
</html>
`)
