package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/goray/goray/serve"
)

// A deployment is any Go type with a constructor and a handler.
type greeter struct{ greeting string }

func (g *greeter) ServeRequest(ctx context.Context, req *serve.Request) (*serve.Response, error) {
	if len(req.Body) == 0 {
		return nil, serve.Errorf(http.StatusBadRequest, "send a name in the body")
	}
	return &serve.Response{ContentType: "text/plain", Body: fmt.Appendf(nil, "%s, %s!", g.greeting, req.Body)}, nil
}

func Example() {
	d := serve.Deployment{
		Name:        "hello",
		RoutePrefix: "/hello",
		NumReplicas: 2,
		New: func(ctx context.Context, rc *serve.ReplicaContext) (serve.Handler, error) {
			return &greeter{greeting: rc.UserConfig.(string)}, nil
		},
		UserConfig: "Hello",
	}
	ctx := context.Background()
	srv, err := serve.Start(ctx, serve.NewApp(d), serve.HTTPOptions{Port: serve.AnyPort})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	for _, body := range []string{"goray", ""} {
		resp, err := http.Post("http://"+srv.Addr()+"/hello", "text/plain", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
	}
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 200 Hello, goray!
	// 400 {"error":"send a name in the body"}
}
