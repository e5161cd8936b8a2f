package run

import (
	"context"

	"etl/internal/pace"
)

// Progress receives a run's progress (the terminal progress bars). Calls
// come from several goroutines.
type Progress interface {
	SourceStarted(source string, start SourceStart)
	// Page: after each page, the counts so far and the vendor's own count
	// of the source's records (-1 when it gives none).
	Page(source string, pages, records, total int64)
	// SourceDone gives the source's final counts: those of the summary.
	SourceDone(source string, stats *SourceStats, err error)
	WritebackStarted(target string, items int64, pacing Pacing)
	WritebackSent(target string, items int64) // items finished so far
	// WritebackDone gives the target's final counts: those of the summary.
	WritebackDone(target string, stats *WritebackStats, err error)
}

// Pacing reports whether a vendor's pacer is holding requests back for
// one of its limits, and which ("200/min"); nil where nothing paces.
type Pacing func() (limit string, held bool)

func pacing(p *pace.Pacer) Pacing {
	if p == nil {
		return nil
	}
	return p.Holding
}

// SourceStart is what is known of a source as its extraction starts.
type SourceStart struct {
	// Expected is the source's count in the latest complete partition
	// before this run's date (ExpectedFrom): an estimate of today's count,
	// -1 when there is none.
	Expected     int64
	ExpectedFrom string
	Pacing       Pacing
}

// expected finds the latest complete partition before the run's date and
// the count of each source it was built from (its extracted count, from the
// staging marker of the run it names). It serves only as an estimate for
// the progress bars: anything missing or unreadable means no estimate.
// With Parquet it costs one listing of end_user_sources and a few small
// reads; with Iceberg, the catalog's current metadata of each table.
func expected(ctx context.Context, tbls tables, st *staging) (from string, counts map[string]int64) {
	from, b, err := tbls.latest(ctx, st.date)
	if err != nil || b == nil {
		return "", nil
	}
	prev := &staging{store: st.store, date: from}
	counts = map[string]int64{}
	for src, runID := range b.Inputs {
		if d, err := prev.done(ctx, src); err == nil && d != nil && d.RunID == runID && d.Stats != nil {
			counts[src] = d.Stats.Extracted
		}
	}
	return from, counts
}
