package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/goray/goray/core"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/tune"
)

// runServe serves the deployments of a YAML file until ctx ends
// (SIGINT/SIGTERM), then shuts down gracefully.
func runServe(ctx context.Context, stdout io.Writer, args []string) error {
	fs := newFlags("goray serve run", "goray serve run [--check] serve.yaml", stdout)
	check := fs.Bool("check", false, "validate the file and its checkpoints, then exit")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: goray serve run [--check] serve.yaml")
	}
	cfg, err := serve.LoadConfig(fs.Arg(0))
	if err != nil {
		return err
	}
	app, err := serve.AppFromConfig(cfg, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if *check {
		fmt.Fprintf(stdout, "%s: %d deployment(s), OK\n", fs.Arg(0), len(cfg.Deployments))
		return nil
	}
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	srv, err := serve.Start(ctx, app, cfg.HTTPOptions(), cfg.Options()...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %d deployment(s) on http://%s", len(cfg.Deployments), srv.Addr())
	if g := srv.GRPCAddr(); g != "" {
		fmt.Fprintf(stdout, " and grpc %s", g)
	}
	fmt.Fprintln(stdout)
	for _, d := range cfg.Deployments {
		fmt.Fprintf(stdout, "  %s -> %s\n", d.Name, d.Checkpoint)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down: letting in-flight requests finish")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}

// runTuneShow prints an experiment's trials and best result.
func runTuneShow(stdout io.Writer, args []string) error {
	fs := newFlags("goray tune show", "goray tune show [--csv] DIR", stdout)
	asCSV := fs.Bool("csv", false, "print every trial's last result as CSV")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: goray tune show [--csv] DIR")
	}
	grid, err := tune.LoadResults(fs.Arg(0))
	if err != nil {
		return err
	}
	if *asCSV {
		return grid.WriteCSV(stdout)
	}
	fmt.Fprintf(stdout, "experiment %s: %d trial(s)\n\n", grid.Path(), grid.Len())
	return grid.WriteTable(stdout)
}
