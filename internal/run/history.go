package run

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/config"
	"etl/internal/store"
	"etl/load"
	"etl/schemas"
)

// Writing the runs row is the last act of a run, even of one being stopped
// (SIGTERM), but must not keep a stopping process alive: it gets
// historyTimeout, and historyGrace once ctx has ended.
const (
	historyTimeout = 10 * time.Second
	historyGrace   = 1500 * time.Millisecond
)

// RunsKey is where the runs row of one invocation goes.
func RunsKey(sum *Summary) string {
	return fmt.Sprintf("%s/dt=%s/run-%s-%s.parquet", schemas.TableRuns, sum.RunDate, sum.RunID, sum.Stage)
}

// Record writes the runs row of one invocation (or one date of a
// backfill) into the pipeline's output: summary is the JSON summary line it
// prints, exactly (redacted as printed), and redact is applied to the
// error. Parquet: each row is a file of its own, never replaced; Iceberg:
// each row is appended to the runs table.
func Record(ctx context.Context, p *config.Pipeline, sum *Summary, summary string, redact func(string) string) error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(historyGrace, cancel) })
	defer stop()
	ctx = hctx
	date, err := time.Parse(time.DateOnly, sum.RunDate)
	if err != nil {
		return fmt.Errorf("runs: run date %q: %w", sum.RunDate, err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schemas.Runs)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(sum.RunID)
	b.Field(1).(*array.Date32Builder).Append(arrow.Date32FromTime(date))
	b.Field(2).(*array.StringBuilder).Append(sum.Stage)
	b.Field(3).(*array.StringBuilder).Append(sum.Status)
	opt(b.Field(4).(*array.StringBuilder), redact(sum.Error))
	b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(sum.StartedAt.UnixMicro()))
	b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(sum.FinishedAt.UnixMicro()))
	b.Field(7).(*array.StringBuilder).Append(summary)
	rec := b.NewRecord()
	defer rec.Release()
	if p.Output.Format == config.FormatIceberg {
		cat, err := openCatalog(ctx, p)
		if err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		defer cat.Close()
		tb, err := cat.Table(ctx, schemas.TableRuns, schemas.Runs)
		if err == nil {
			err = tb.Append(ctx, sum.RunDate, sum.RunID, rec)
		}
		if err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		return nil
	}
	out, err := store.Open(ctx, p.Output.URI)
	if err != nil {
		return err
	}
	if err := load.WriteFile(ctx, out, RunsKey(sum), rec); err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	return nil
}

// Skipped is the summary of a backfill date already complete: nothing ran.
func Skipped(p *config.Pipeline, date, stage string) *Summary {
	now := time.Now().UTC()
	return &Summary{RunDate: date, Stage: stage, Status: StatusSucceeded, Output: p.Output.URI, RunID: load.NewRunID(),
		StartedAt: now, FinishedAt: now, Skipped: []string{stage}, Sources: map[string]*SourceStats{}, Tables: map[string]TableStats{},
		Writeback: map[string]*WritebackStats{}}
}
