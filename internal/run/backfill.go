package run

import (
	"context"
	"fmt"
	"time"

	"etl/internal/config"
	"etl/internal/store"
)

// Done reports whether a stage already finished for the date: what backfill
// checks to skip dates. all and resolve: every table has _SUCCESS; extract:
// every source (or those in only) is staged; writeback: it succeeded.
func Done(ctx context.Context, p *config.Pipeline, date, stage string, only []string) (bool, error) {
	out, err := store.Open(ctx, p.Output.URI)
	if err != nil {
		return false, err
	}
	if stage == StageExtract {
		srcs, err := sources(p, only)
		if err != nil {
			return false, err
		}
		st := &staging{store: out, date: date}
		for _, s := range srcs {
			d, err := st.done(ctx, s.name)
			if err != nil || d == nil {
				return false, err
			}
		}
		return true, nil
	}
	tbls, err := openTables(ctx, p, out, nil, nil)
	if err != nil {
		return false, err
	}
	defer tbls.close()
	switch stage {
	case StageWriteback:
		m, err := tbls.built(ctx, date)
		if err != nil || m == nil {
			return false, err
		}
		return writebackDoneFor(ctx, out, date, m.RunID)
	case StageResolve:
		srcs, err := sources(p, nil)
		if err != nil {
			return false, err
		}
		return resolveDone(ctx, tbls, &staging{store: out, date: date}, srcs)
	}
	// all: complete tables, and their write-back when the pipeline has one.
	m, err := tbls.built(ctx, date)
	if err != nil || m == nil || len(p.Writeback) == 0 {
		return m != nil, err
	}
	return writebackDoneFor(ctx, out, date, m.RunID)
}

// Dates lists the days from..to inclusive, in order.
func Dates(from, to string) ([]string, error) {
	a, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return nil, fmt.Errorf("--from %q is not a YYYY-MM-DD date", from)
	}
	b, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return nil, fmt.Errorf("--to %q is not a YYYY-MM-DD date", to)
	}
	if b.Before(a) {
		return nil, fmt.Errorf("--to %s is before --from %s", to, from)
	}
	var out []string
	for d := a; !d.After(b); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out, nil
}
