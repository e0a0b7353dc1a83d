// Command goray is goray's command-line tool: batch scoring, serving,
// inspecting checkpoints and tuning experiments.
//
//	goray version
//	goray predict --checkpoint DIR --input data.csv --output preds.csv [--workers N]
//	goray serve run serve.yaml
//	goray tune show DIR
//	goray checkpoint inspect DIR
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Args[1:])
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "goray:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}
