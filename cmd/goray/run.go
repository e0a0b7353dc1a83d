package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/schollz/progressbar/v3"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
	_ "github.com/goray/goray/train/gbdt" // registers the gbdt predictor
	_ "github.com/goray/goray/train/nn"   // registers the nn predictor
)

// version is goray's release, printed by `goray version`.
const version = checkpoint.GorayVersion

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const topUsage = `goray: Ray's AI runtime for Go.

Usage:
  goray version                       print the version
  goray predict --checkpoint DIR --input FILE.csv --output FILE.csv [--workers N]
                                      score a CSV with a checkpoint
  goray serve run serve.yaml          serve deployments from a YAML file
  goray tune show DIR                 print an experiment's trials and best result
  goray checkpoint inspect DIR        print a checkpoint's metadata

Run 'goray COMMAND --help' for a command's flags.
`

// groupUsage is the usage of the commands that take a subcommand.
var groupUsage = map[string]string{
	"serve":      "usage: goray serve run [--check] serve.yaml\n\nRun 'goray serve run --help' for its flags.\n",
	"tune":       "usage: goray tune show [--csv] DIR\n\nRun 'goray tune show --help' for its flags.\n",
	"checkpoint": "usage: goray checkpoint inspect [--json] DIR\n\nRun 'goray checkpoint inspect --help' for its flags.\n",
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// run is the whole command line: main only parses signals and exit codes.
// Help goes to stdout and is a success; a usage mistake is a *usageError
// (exit 2), whose message main prints to stderr.
func run(ctx context.Context, stdout io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, topUsage)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return nil
	case "version", "-version", "--version":
		return runVersion(stdout, args[1:])
	case "predict":
		return runPredict(ctx, stdout, args[1:])
	case "checkpoint", "serve", "tune":
		sub := map[string]string{"checkpoint": "inspect", "serve": "run", "tune": "show"}[args[0]]
		if len(args) >= 2 && isHelp(args[1]) {
			fmt.Fprint(stdout, groupUsage[args[0]])
			return nil
		}
		if len(args) < 2 || args[1] != sub {
			return usagef("%s", strings.TrimSuffix(strings.SplitN(groupUsage[args[0]], "\n", 2)[0], "\n"))
		}
		switch args[0] {
		case "checkpoint":
			return runCheckpointInspect(stdout, args[2:])
		case "serve":
			return runServe(ctx, stdout, args[2:])
		default:
			return runTuneShow(stdout, args[2:])
		}
	}
	return usagef("unknown command %q (run 'goray --help')", args[0])
}

func runVersion(stdout io.Writer, args []string) error {
	fs := newFlags("goray version", "goray version", stdout)
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("goray version: unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintf(stdout, "goray %s\n", version)
	return nil
}

// flagSet is a command's flags, with the usage line its --help prints.
type flagSet struct {
	*flag.FlagSet
	usage  string
	stdout io.Writer
}

// newFlags makes a flag set that reports errors instead of exiting. It
// prints nothing itself: parse prints the usage to stdout on --help, and a
// bad flag becomes a usage error that main prints to stderr.
func newFlags(name, usage string, stdout io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, usage: usage, stdout: stdout}
}

// parse runs fs.Parse, turning --help (or -h) into success with the usage
// printed on stdout, and bad flags into usage errors.
func parse(fs *flagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(fs.stdout, "usage: %s\n", fs.usage)
			hasFlags := false
			fs.VisitAll(func(*flag.Flag) { hasFlags = true })
			if hasFlags {
				fmt.Fprint(fs.stdout, "\nflags:\n")
				fs.SetOutput(fs.stdout)
				fs.PrintDefaults()
				fs.SetOutput(io.Discard)
			}
			return true, nil
		}
		return false, usagef("%s: %v (run '%s --help')", fs.Name(), err, fs.Name())
	}
	return false, nil
}

func runPredict(ctx context.Context, stdout io.Writer, args []string) error {
	fs := newFlags("goray predict", "goray predict --checkpoint DIR --input FILE.csv --output FILE.csv [--workers N]", stdout)
	ckptDir := fs.String("checkpoint", "", "checkpoint directory (required)")
	input := fs.String("input", "", "input CSV file, directory or glob (required)")
	output := fs.String("output", "", "output CSV file (required)")
	workers := fs.Int("workers", 1, "number of model workers")
	batch := fs.Int("batch-size", 4096, "rows per model call")
	keep := fs.String("keep-columns", "", "comma-separated input columns to copy to the output")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	switch {
	case *ckptDir == "":
		return usagef("goray predict: flag --checkpoint is required")
	case *input == "":
		return usagef("goray predict: flag --input is required")
	case *output == "":
		return usagef("goray predict: flag --output is required")
	case *workers < 1:
		return usagef("goray predict: flag --workers = %d: must be >= 1", *workers)
	case *batch < 1:
		return usagef("goray predict: flag --batch-size = %d: must be >= 1", *batch)
	case fs.NArg() > 0:
		return usagef("goray predict: unexpected argument %q", fs.Arg(0))
	}
	ckpt, err := checkpoint.FromDirectory(*ckptDir)
	if err != nil {
		return fmt.Errorf("--checkpoint %s: %w", *ckptDir, err)
	}
	factory, err := train.FactoryFor(ckpt)
	if err != nil {
		return err
	}
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	ds, err := data.ReadCSV(ctx, *input)
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	bp, err := train.BatchPredictorFromCheckpoint(ckpt, factory)
	if err != nil {
		return err
	}
	cols, err := ds.Columns(ctx)
	if err != nil {
		return fmt.Errorf("--input %s: %w", *input, err)
	}
	have := map[string]bool{}
	for _, c := range cols {
		have[c] = true
	}
	for _, f := range bp.Features() {
		if !have[f.Name] {
			return fmt.Errorf("--input %s: column %q, a feature of the model in %s, is missing", *input, f.Name, *ckptDir)
		}
	}
	var keepCols []string
	if *keep != "" {
		for _, c := range strings.Split(*keep, ",") {
			if c = strings.TrimSpace(c); c != "" {
				keepCols = append(keepCols, c)
			}
		}
		for _, c := range keepCols {
			if !have[c] {
				return usagef("goray predict: --keep-columns: column %q is not in %s", c, *input)
			}
		}
	}
	preds, err := bp.Predict(ctx, ds, train.PredictOptions{BatchSize: *batch, Concurrency: *workers, KeepColumns: keepCols})
	if err != nil {
		return err
	}
	f, err := os.Create(*output)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer f.Close()
	var bar *progressbar.ProgressBar
	if !*quiet {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("scoring rows"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100_000_000))
	}
	rows, err := writeCSV(ctx, f, preds, bar)
	if err != nil {
		os.Remove(*output)
		return err
	}
	if bar != nil {
		bar.Finish()
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d predictions to %s\n", rows, *output)
	return nil
}

// writeCSV streams a dataset to one CSV file with a header.
func writeCSV(ctx context.Context, w io.Writer, ds *data.Dataset, bar *progressbar.ProgressBar) (int64, error) {
	cw := csv.NewWriter(w)
	var rows int64
	header := false
	for rec, err := range ds.IterBatches(ctx) {
		if err != nil {
			return rows, err
		}
		if !header {
			names := make([]string, rec.NumCols())
			for i, fd := range rec.Schema().Fields() {
				names[i] = fd.Name
			}
			if err := cw.Write(names); err != nil {
				return rows, err
			}
			header = true
		}
		line := make([]string, rec.NumCols())
		for r := 0; r < int(rec.NumRows()); r++ {
			for c := 0; c < int(rec.NumCols()); c++ {
				line[c] = cell(rec.Column(c), r)
			}
			if err := cw.Write(line); err != nil {
				return rows, err
			}
		}
		rows += rec.NumRows()
		if bar != nil {
			bar.Add64(rec.NumRows())
		}
	}
	cw.Flush()
	return rows, cw.Error()
}

func cell(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return ""
	}
	switch a := col.(type) {
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.String:
		return a.Value(i)
	}
	return col.ValueStr(i)
}

func runCheckpointInspect(stdout io.Writer, args []string) error {
	fs := newFlags("goray checkpoint inspect", "goray checkpoint inspect [--json] DIR", stdout)
	asJSON := fs.Bool("json", false, "print metadata.json as is")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: goray checkpoint inspect [--json] DIR")
	}
	ckpt, err := checkpoint.FromDirectory(fs.Arg(0))
	if err != nil {
		return err
	}
	md := ckpt.Metadata()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(md)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "path\t%s\n", ckpt.Path())
	fmt.Fprintf(tw, "framework\t%s\n", md.Framework)
	fmt.Fprintf(tw, "format version\t%d\n", md.FormatVersion)
	fmt.Fprintf(tw, "goray version\t%s\n", md.GorayVersion)
	fmt.Fprintf(tw, "created\t%s\n", md.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	files, _ := ckpt.Files()
	fmt.Fprintf(tw, "files\t%s\n", strings.Join(files, ", "))
	fmt.Fprintf(tw, "features\t%d\n", len(md.Features))
	for _, f := range md.Features {
		fmt.Fprintf(tw, "  %s\t%s\n", f.Name, f.Type)
	}
	keys := make([]string, 0, len(md.Metrics))
	for k := range md.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(tw, "metrics\t%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%g\n", k, md.Metrics[k])
	}
	return tw.Flush()
}
