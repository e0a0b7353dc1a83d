// Command goray is goray's command-line tool: batch scoring, serving,
// inspecting checkpoints and tuning experiments.
//
//	goray version                  (or goray --version)
//	goray predict --checkpoint DIR --input data.csv --output preds.csv [--workers N]
//	goray serve run serve.yaml
//	goray tune show DIR
//	goray checkpoint inspect DIR
//
// --help (or -h) after any command prints its usage on stdout and exits 0;
// a usage mistake exits 2, any other failure 1, with the error on stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Args[1:])
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, errorLine(err))
	var ue *usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

// errorLine is the line main prints for err: prefixed with "goray: "
// unless the message already names the command or is a usage line.
func errorLine(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "goray ") || strings.HasPrefix(msg, "usage: ") {
		return msg
	}
	return "goray: " + msg
}
