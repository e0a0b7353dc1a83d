package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestUploadPageInHeadlessChromium drives the upload page in a real browser
// (Debian's chromium, over the DevTools protocol): it sets a PNG on the file
// input, clicks Classify and reads the ten scores from the page. Skipped
// when chromium is not installed.
func TestUploadPageInHeadlessChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium on PATH (Debian: apt-get install chromium)")
	}
	base := testServer(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "cat.png")
	if err := os.WriteFile(img, pngImage(t, 32, 32), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--remote-debugging-port=0", "--remote-allow-origins=*", "--user-data-dir="+filepath.Join(dir, "profile"), "about:blank")
	// Chromium writes caches under HOME: keep them in the test's own
	// directory. Its singleton socket directory in TMPDIR (whose path must
	// stay short) is removed once it exits.
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "org.chromium.Chromium.*"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
		after, _ := filepath.Glob(filepath.Join(os.TempDir(), "org.chromium.Chromium.*"))
		for _, p := range after {
			if !slices.Contains(before, p) {
				os.RemoveAll(p)
			}
		}
	}()
	wsRE := regexp.MustCompile(`DevTools listening on (ws://[^\s]+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := wsRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var browserWS string
	select {
	case browserWS = <-found:
	case <-ctx.Done():
		t.Fatal("chromium did not start its DevTools endpoint")
	}
	hostPort := strings.TrimPrefix(browserWS, "ws://")
	hostPort = hostPort[:strings.Index(hostPort, "/")]

	// The page target chromium opened on about:blank.
	var targets []struct{ Type, WebSocketDebuggerURL string }
	resp, err := http.Get("http://" + hostPort + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	pageWS := ""
	for _, tg := range targets {
		if tg.Type == "page" {
			pageWS = tg.WebSocketDebuggerURL
		}
	}
	if pageWS == "" {
		t.Fatalf("no page target in %+v", targets)
	}
	c, err := dialCDP(pageWS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.ws.Close()

	if _, err := c.call("Page.navigate", map[string]any{"url": base + "/"}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, c, `document.readyState === "complete" && !!document.getElementById("file")`)
	doc, err := c.call("DOM.getDocument", nil)
	if err != nil {
		t.Fatal(err)
	}
	var root struct{ Root struct{ NodeID int } }
	json.Unmarshal(doc, &root)
	q, err := c.call("DOM.querySelector", map[string]any{"nodeId": root.Root.NodeID, "selector": "#file"})
	if err != nil {
		t.Fatal(err)
	}
	var input struct{ NodeID int }
	json.Unmarshal(q, &input)
	if _, err := c.call("DOM.setFileInputFiles", map[string]any{"nodeId": input.NodeID, "files": []string{img}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.eval(`document.getElementById("file").dispatchEvent(new Event("change")); document.getElementById("submit").click(); true`); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, c, `document.body.dataset.done === "1" || document.getElementById("error").textContent !== ""`)
	v, err := c.eval(`JSON.stringify({err: document.getElementById("error").textContent,
		result: document.getElementById("result").textContent,
		rows: Array.from(document.querySelectorAll("tr.score")).map(r => [r.cells[0].textContent, r.cells[1].textContent])})`)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Err, Result string
		Rows        [][2]string
	}
	if err := json.Unmarshal([]byte(v.(string)), &page); err != nil {
		t.Fatal(err)
	}
	t.Logf("page shows %q and %d scores: %v", page.Result, len(page.Rows), page.Rows)
	if page.Err != "" || len(page.Rows) != 10 || !strings.HasPrefix(page.Result, "Class: "+page.Rows[0][0]) {
		t.Fatalf("page after upload: %+v", page)
	}
	var sum float64
	for _, r := range page.Rows {
		f, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatalf("score %q: %v", r[1], err)
		}
		sum += f
	}
	if sum < 0.97 || sum > 1.03 {
		t.Fatalf("scores sum to %v", sum)
	}
	if out := os.Getenv("CIFAR_SCREENSHOT"); out != "" {
		if shot, err := c.call("Page.captureScreenshot", map[string]any{"format": "png"}); err == nil {
			var s struct{ Data string }
			json.Unmarshal(shot, &s)
			b, _ := base64.StdEncoding.DecodeString(s.Data)
			os.WriteFile(out, b, 0o644)
		}
	}
}

// cdp is a minimal Chrome DevTools Protocol client: one call at a time.
type cdp struct {
	ws *websocket.Conn
	id int
}

func dialCDP(url string) (*cdp, error) {
	ws, err := websocket.Dial(url, "", "http://127.0.0.1/")
	if err != nil {
		return nil, err
	}
	ws.MaxPayloadBytes = 64 << 20
	return &cdp{ws: ws}, nil
}

func (c *cdp) call(method string, params any) (json.RawMessage, error) {
	c.id++
	if params == nil {
		params = map[string]any{}
	}
	c.ws.SetDeadline(time.Now().Add(30 * time.Second))
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": c.id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	for {
		var msg struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if err := websocket.JSON.Receive(c.ws, &msg); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if msg.ID != c.id {
			continue // an event
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, msg.Error.Message)
		}
		return msg.Result, nil
	}
}

func (c *cdp) eval(expr string) (any, error) {
	r, err := c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var out struct {
		Result           struct{ Value any }
		ExceptionDetails *struct{ Text string }
	}
	if err := json.Unmarshal(r, &out); err != nil {
		return nil, err
	}
	if out.ExceptionDetails != nil {
		return nil, fmt.Errorf("%s: %s", expr, out.ExceptionDetails.Text)
	}
	return out.Result.Value, nil
}

func waitJS(t *testing.T, ctx context.Context, c *cdp, cond string) {
	t.Helper()
	for {
		v, err := c.eval(cond)
		if err == nil && v == true {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (last: %v, %v)", cond, v, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
