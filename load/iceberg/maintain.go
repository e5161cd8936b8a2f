package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Append adds rec's rows (the table's own schema) to date: the runs table,
// whose rows are never replaced. It commits at once, retrying a race with
// another run's commit.
func (t *Table) Append(ctx context.Context, date, runID string, rec arrow.Record) error {
	r, err := t.c.Begin(date, runID, "", nil)
	if err != nil {
		return err
	}
	if err := t.refresh(ctx); err != nil {
		return err
	}
	dt, err := r.withDate(t, rec)
	if err != nil {
		return err
	}
	defer dt.Release()
	rdr, err := array.NewRecordReader(WithDate(t.schema), []arrow.RecordBatch{dt})
	if err != nil {
		return err
	}
	defer rdr.Release()
	tx := t.tbl.NewTransaction()
	if err := tx.Append(ctx, rdr, ice.Properties{PropRunID: runID, PropRunDate: date}); err != nil {
		return fmt.Errorf("iceberg table %s: appending to dt=%s: %w", t.name, date, err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("iceberg table %s: committing dt=%s: %w", t.name, date, err)
	}
	return nil
}

// ExpireStats say what a table's maintenance removed.
type ExpireStats struct {
	Snapshots int      // snapshots expired (their files no longer referenced were deleted with them)
	Orphans   []string // unreferenced files older than the retention, deleted
}

// Expire removes what no reader can still need. A snapshot is expired once
// it has not been current for the retention: the snapshot that was current
// at now-retention, and every later one, are kept, so a reader that started
// within the retention finds its files. Expiry deletes the files only the
// expired snapshots referenced. Then files under the table's data/ and
// metadata/ that no snapshot references and older than the retention
// (those of runs killed before their commit) are deleted: a run younger
// than the retention cannot lose its staged files, since Commit refuses
// files older than half of it.
func (t *Table) Expire(ctx context.Context, now time.Time) (ExpireStats, error) {
	var st ExpireStats
	if err := t.refresh(ctx); err != nil {
		return st, err
	}
	cutoff := now.Add(-t.c.retain).UnixMilli()
	// The snapshot current at the cutoff: the latest main ancestor created
	// before it.
	var atCutoff *table.Snapshot
	if cur := t.tbl.CurrentSnapshot(); cur != nil {
		for _, s := range table.AncestorsOf(cur.SnapshotID, t.tbl.Metadata().SnapshotByID) {
			if s.TimestampMs < cutoff {
				atCutoff = &s
				break
			}
		}
	}
	var expire []int64
	if atCutoff != nil {
		for _, s := range t.tbl.Metadata().Snapshots() {
			if s.TimestampMs < atCutoff.TimestampMs {
				expire = append(expire, s.SnapshotID)
			}
		}
	}
	if len(expire) > 0 {
		if err := t.expire(ctx, expire); err != nil {
			return st, fmt.Errorf("iceberg table %s: expiring snapshots: %w", t.name, err)
		}
		st.Snapshots = len(expire)
	}
	// Only data/ and metadata/: anything else under the table's directory
	// (a Parquet layout written there before) is none of Iceberg's.
	for _, dir := range []string{"/data", "/metadata"} {
		res, err := t.tbl.DeleteOrphanFiles(ctx, table.WithLocation(t.tbl.Location()+dir), table.WithFilesOlderThan(t.c.retain))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a table that never had a row has no data/
		}
		if err != nil {
			return st, fmt.Errorf("iceberg table %s: removing unreferenced files: %w", t.name, err)
		}
		st.Orphans = append(st.Orphans, res.DeletedFiles...)
	}
	return st, nil
}

// expire removes the snapshots ids from the table, then the files only
// they referenced. Transaction.ExpireSnapshots chooses snapshots by age
// alone, against the clock; here they are the ones no longer current for
// the retention, so the commit is made by hand, as a transaction would:
// against the current snapshot, then the update's own file deletion.
func (t *Table) expire(ctx context.Context, ids []int64) error {
	pre := t.tbl
	cur := pre.CurrentSnapshot().SnapshotID
	upd := table.NewRemoveSnapshotsUpdate(ids, true)
	reqs := []table.Requirement{table.AssertTableUUID(pre.Metadata().TableUUID()), table.AssertRefSnapshotID(table.MainBranch, &cur)}
	if _, _, err := t.c.cat.CommitTable(ctx, pre.Identifier(), reqs, []table.Update{upd}); err != nil {
		return err
	}
	if err := t.refresh(ctx); err != nil {
		return err
	}
	return upd.PostCommit(ctx, pre, t.tbl)
}
