// Command etl extracts end users from Planhat, Dixa, Moesif, Userlot and file
// exports, resolves who is the same person, and writes partitioned Parquet.
// See README.md; the command line is specified in CONTRACT.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"etl/internal/config"
	"etl/internal/demo"
	"etl/internal/run"
)

const usage = `usage:
  etl run PIPELINE.yaml [--run-date YYYY-MM-DD] [--only planhat,dixa,…] [--dry-run]
                        [--stage extract|resolve|writeback|all] [--force]
                        [--accept-drop SOURCE,…] [--log-level debug|info|warn|error]
  etl backfill PIPELINE.yaml --from YYYY-MM-DD --to YYYY-MM-DD [--stage …] [--force] [--only …]
                        [--accept-drop SOURCE,…]
  etl validate PIPELINE.yaml
  etl demo [--out DIR] [--people N] [--run-date YYYY-MM-DD] [--format parquet|iceberg]
`

// terminal is stderr when it is a terminal; termRedactor redacts what is
// written to it around the redacting writer.
var (
	terminal     *os.File
	termRedactor *redactor
)

// Exit statuses (CONTRACT.md).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(run.DefaultMemoryLimit)
	}
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// Main runs the command line; it returns the exit status.
func Main(args []string, stdout, stderr io.Writer, env config.Env) int {
	red := &redactor{}
	// Progress bars need the terminal itself (to know its width); their
	// log lines are redacted on the way in.
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		terminal = f
	}
	termRedactor = red
	// The AWS SDK never prints its secrets; redacting them costs nothing.
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if v, ok := env(k); ok {
			red.add(v)
		}
	}
	stdout, stderr = red.writer(stdout), red.writer(stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr, env, red)
	case "backfill":
		return cmdBackfill(ctx, args[1:], stdout, stderr, env, red)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr, env, red)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr, red)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "etl: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// parse reads flags placed before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type runFlags struct {
	runDate, only, stage, logLevel, acceptDrop string
	dryRun, force                              bool
}

const acceptDropUsage = "comma-separated sources the volume guard lets through for this invocation"

// hooks reads the environment variables that exist for tests and
// benchmarks only: ETL_LOCK_TTL shortens the run-date lock's 60 s lease,
// ETL_BENCH_NO_CHANGES=1 skips end_user_changes' comparison.
func hooks(opt *run.Options, env config.Env) error {
	if v, ok := env("ETL_LOCK_TTL"); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("ETL_LOCK_TTL=%q: want a positive duration such as 2s", v)
		}
		opt.LockTTL = d
	}
	if v, _ := env("ETL_BENCH_NO_CHANGES"); v == "1" {
		opt.NoChanges = true
	}
	return nil
}

// acceptDrop checks --accept-drop against the pipeline's sources: a typo
// must not leave the guard refusing at 3 a.m.
func acceptDrop(p *config.Pipeline, flag string) ([]string, error) {
	if flag == "" {
		return nil, nil
	}
	names := strings.Split(flag, ",")
	for _, n := range names {
		if !slices.Contains(p.SourceNames(), n) {
			return nil, fmt.Errorf("--accept-drop %s: no such source in the pipeline (its sources: %s)", n, strings.Join(p.SourceNames(), ", "))
		}
	}
	return names, nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env, red *redactor) int {
	fs := flag.NewFlagSet("etl run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runFlags
	fs.StringVar(&f.runDate, "run-date", time.Now().UTC().Format(time.DateOnly), "partition date (YYYY-MM-DD); default today in UTC")
	fs.StringVar(&f.only, "only", "", "comma-separated sources to extract")
	fs.BoolVar(&f.dryRun, "dry-run", false, "write the tables and plan the write-back, send nothing to vendors")
	fs.StringVar(&f.stage, "stage", "all", "extract|resolve|writeback|all")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug|info|warn|error")
	fs.BoolVar(&f.force, "force", false, "redo a stage already finished for the date")
	fs.StringVar(&f.acceptDrop, "accept-drop", "", acceptDropUsage)
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "etl run: expected one pipeline file\n%s", usage)
		return exitUsage
	}
	if _, err := time.Parse(time.DateOnly, f.runDate); err != nil {
		fmt.Fprintf(stderr, "etl run: --run-date %q is not a YYYY-MM-DD date\n", f.runDate)
		return exitUsage
	}
	if !slices.Contains([]string{run.StageAll, run.StageExtract, run.StageResolve, run.StageWriteback}, f.stage) {
		fmt.Fprintf(stderr, "etl run: --stage must be extract, resolve, writeback or all (got %q)\n", f.stage)
		return exitUsage
	}
	log, progress, err := logger(stderr, f.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "etl run: %v\n", err)
		return exitUsage
	}
	p, err := config.Load(pos[0], env, f.runDate)
	if err != nil {
		return configError(stderr, err)
	}
	red.add(p.Secrets()...)
	var only []string
	if f.only != "" {
		only = strings.Split(f.only, ",")
	}
	opt := run.Options{RunDate: f.runDate, Only: only, DryRun: f.dryRun, Stage: f.stage, Force: f.force, Log: log}
	if opt.AcceptDrop, err = acceptDrop(p, f.acceptDrop); err != nil {
		fmt.Fprintf(stderr, "etl run: %v\n", err)
		return exitUsage
	}
	if err := hooks(&opt, env); err != nil {
		fmt.Fprintf(stderr, "etl run: %v\n", err)
		return exitUsage
	}
	return execute(ctx, p, opt, progress, stdout, red)
}

// record writes the run's history row, with the summary line as printed
// (redacted); a run that could not reach its output has none.
func record(ctx context.Context, p *config.Pipeline, sum *run.Summary, log *slog.Logger, red *redactor) string {
	b, _ := json.Marshal(sum)
	line := red.String(string(b))
	if err := run.Record(ctx, p, sum, line, red.String); err != nil {
		log.Error("could not write the run's row of the runs table", "error", err.Error())
	}
	return line
}

func execute(ctx context.Context, p *config.Pipeline, opt run.Options, progress *bars, stdout io.Writer, red *redactor) int {
	if progress != nil {
		opt.Progress = progress
	}
	sum, err := run.Run(ctx, p, opt)
	if progress != nil {
		progress.Wait()
	}
	line := record(ctx, p, sum, opt.Log, red)
	fmt.Fprintf(stdout, "%s\n", line)
	if err != nil {
		opt.Log.Error("run failed", "error", err.Error())
		return exitFail
	}
	return exitOK
}

func configError(stderr io.Writer, err error) int {
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintf(stderr, "%s\n", p)
		}
		fmt.Fprintf(stderr, "etl: %d problem(s) in the pipeline file\n", len(ps))
		return exitUsage
	}
	fmt.Fprintf(stderr, "etl: %v\n", err)
	return exitUsage
}

func cmdValidate(args []string, stdout, stderr io.Writer, env config.Env, red *redactor) int {
	fs := flag.NewFlagSet("etl validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "etl validate: expected one pipeline file\n%s", usage)
		return exitUsage
	}
	p, err := config.Load(pos[0], env, time.Now().UTC().Format(time.DateOnly))
	if err != nil {
		return configError(stderr, err)
	}
	red.add(p.Secrets()...)
	fmt.Fprintf(stdout, "%s: ok\n", pos[0])
	return exitOK
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, red *redactor) int {
	fs := flag.NewFlagSet("etl demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "out", "output directory")
	people := fs.Int("people", 2000, "synthetic people to serve")
	runDate := fs.String("run-date", time.Now().UTC().Format(time.DateOnly), "partition date (YYYY-MM-DD); default today in UTC")
	logLevel := fs.String("log-level", "info", "debug|info|warn|error")
	format := fs.String("format", config.FormatParquet, "parquet, or iceberg (tables in a SQLite catalog, DIR/catalog.db)")
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if *format != config.FormatParquet && *format != config.FormatIceberg {
		fmt.Fprintf(stderr, "etl demo: --format must be parquet or iceberg (got %q)\n", *format)
		return exitUsage
	}
	if _, err := time.Parse(time.DateOnly, *runDate); err != nil {
		fmt.Fprintf(stderr, "etl demo: --run-date %q is not a YYYY-MM-DD date\n", *runDate)
		return exitUsage
	}
	log, progress, err := logger(stderr, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "etl demo: %v\n", err)
		return exitUsage
	}
	dir, err := os.MkdirTemp("", "etl-demo-*")
	if err != nil {
		fmt.Fprintf(stderr, "etl demo: %v\n", err)
		return exitFail
	}
	defer os.RemoveAll(dir)
	env, err := demo.Start(demo.Options{People: *people, Dir: dir, Out: *out, Format: *format})
	if err != nil {
		fmt.Fprintf(stderr, "etl demo: %v\n", err)
		return exitFail
	}
	defer env.Close()
	red.add(env.Secrets()...)
	p, err := config.Load(env.Pipeline, env.Lookup, *runDate)
	if err != nil {
		return configError(stderr, err)
	}
	log.Info("demo: emulators serving", "people", *people, "output", *out)
	opt := run.Options{RunDate: *runDate, Log: log}
	if progress != nil {
		opt.Progress = progress
	}
	sum, err := run.Run(ctx, p, opt)
	if progress != nil {
		progress.Wait()
	}
	if err == nil {
		if rerr := report(ctx, stdout, p, sum); rerr != nil {
			log.Warn("could not print the report", "error", rerr.Error())
		}
	}
	fmt.Fprintf(stdout, "%s\n", record(ctx, p, sum, log, red))
	if err != nil {
		log.Error("demo failed", "error", err.Error())
		return exitFail
	}
	return exitOK
}

// logger writes JSON lines when stderr is not a terminal. On a terminal it
// draws progress bars, with text log lines above them.
func logger(w io.Writer, level string) (*slog.Logger, *bars, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	// Libraries that log (iceberg-go) log through the same handler: JSON
	// lines stay JSON lines, and the redactor sees them.
	if terminal != nil {
		b := newBars(terminal, termRedactor)
		log := slog.New(slog.NewTextHandler(b, opts))
		slog.SetDefault(log)
		return log, b, nil
	}
	log := slog.New(slog.NewJSONHandler(w, opts))
	slog.SetDefault(log)
	return log, nil, nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// BackfillSummary is backfill's last stdout line.
type BackfillSummary struct {
	Status string         `json:"status"`
	From   string         `json:"from"`
	To     string         `json:"to"`
	Stage  string         `json:"stage"`
	Dates  []BackfillDate `json:"dates"`
	Error  string         `json:"error,omitempty"`
}

// BackfillDate is what happened to one date.
type BackfillDate struct {
	RunDate string       `json:"run_date"`
	Status  string       `json:"status"` // succeeded, skipped, failed, not run
	Run     *run.Summary `json:"run,omitempty"`
}

// cmdBackfill runs each date in order, skipping dates already complete
// unless --force, and stops at the first failure.
func cmdBackfill(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env, red *redactor) int {
	fs := flag.NewFlagSet("etl backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runFlags
	var from, to string
	fs.StringVar(&from, "from", "", "first date (YYYY-MM-DD)")
	fs.StringVar(&to, "to", "", "last date (YYYY-MM-DD), inclusive")
	fs.StringVar(&f.only, "only", "", "comma-separated sources to extract")
	fs.BoolVar(&f.dryRun, "dry-run", false, "write the tables and plan the write-back, send nothing to vendors")
	fs.StringVar(&f.stage, "stage", "all", "extract|resolve|writeback|all")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug|info|warn|error")
	fs.BoolVar(&f.force, "force", false, "redo dates already complete")
	fs.StringVar(&f.acceptDrop, "accept-drop", "", acceptDropUsage)
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || from == "" || to == "" {
		fmt.Fprintf(stderr, "etl backfill: expected one pipeline file, --from and --to\n%s", usage)
		return exitUsage
	}
	dates, err := run.Dates(from, to)
	if err != nil {
		fmt.Fprintf(stderr, "etl backfill: %v\n", err)
		return exitUsage
	}
	if !slices.Contains([]string{run.StageAll, run.StageExtract, run.StageResolve, run.StageWriteback}, f.stage) {
		fmt.Fprintf(stderr, "etl backfill: --stage must be extract, resolve, writeback or all (got %q)\n", f.stage)
		return exitUsage
	}
	log, progress, err := logger(stderr, f.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "etl backfill: %v\n", err)
		return exitUsage
	}
	var only []string
	if f.only != "" {
		only = strings.Split(f.only, ",")
	}
	sum := BackfillSummary{Status: run.StatusSucceeded, From: from, To: to, Stage: f.stage}
	code := exitOK
	for i, date := range dates {
		// The file is loaded per date: ${RUN_DATE} names that day's exports.
		p, err := config.Load(pos[0], env, date)
		if err != nil {
			return configError(stderr, err)
		}
		red.add(p.Secrets()...)
		ro := run.Options{RunDate: date, Only: only, DryRun: f.dryRun, Stage: f.stage, Force: f.force, Log: log}
		if ro.AcceptDrop, err = acceptDrop(p, f.acceptDrop); err != nil {
			fmt.Fprintf(stderr, "etl backfill: %v\n", err)
			return exitUsage
		}
		if err := hooks(&ro, env); err != nil {
			fmt.Fprintf(stderr, "etl backfill: %v\n", err)
			return exitUsage
		}
		if !f.force {
			done, err := run.Done(ctx, p, date, f.stage, only)
			if err != nil {
				log.Warn("could not tell whether the date is complete; running it", "run_date", date, "error", err.Error())
			}
			if done {
				log.Info("date already complete; skipped (--force redoes it)", "run_date", date)
				record(ctx, p, run.Skipped(p, date, f.stage), log, red)
				sum.Dates = append(sum.Dates, BackfillDate{RunDate: date, Status: "skipped"})
				continue
			}
		}
		log.Info("backfill: running date", "run_date", date, "stage", f.stage)
		if progress != nil {
			ro.Progress = progress
		}
		rs, err := run.Run(ctx, p, ro)
		// Each date's runs row holds that date's summary, as it appears in
		// the backfill's last line.
		record(ctx, p, rs, log, red)
		if err != nil {
			log.Error("backfill stopped at the first failed date", "run_date", date, "error", err.Error())
			sum.Dates = append(sum.Dates, BackfillDate{RunDate: date, Status: run.StatusFailed, Run: rs})
			for _, rest := range dates[i+1:] {
				sum.Dates = append(sum.Dates, BackfillDate{RunDate: rest, Status: "not run"})
			}
			sum.Status, sum.Error, code = run.StatusFailed, fmt.Sprintf("%s: %v", date, err), exitFail
			break
		}
		sum.Dates = append(sum.Dates, BackfillDate{RunDate: date, Status: run.StatusSucceeded, Run: rs})
	}
	if progress != nil {
		progress.Wait()
	}
	line, _ := json.Marshal(sum)
	fmt.Fprintf(stdout, "%s\n", line)
	return code
}
