package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/extract"
	"etl/internal/store"
	"etl/load"
	"etl/schemas"
)

// row is one end_user_sources row as DuckDB exports it to JSON lines (times
// as epoch microseconds); bench/parquetgo reads the same lines.
type row struct {
	Source      string   `json:"source"`
	SourceID    string   `json:"source_id"`
	PersonID    *string  `json:"person_id"`
	Email       *string  `json:"email"`
	Emails      []string `json:"emails"`
	ExternalID  *string  `json:"external_id"`
	FirstName   *string  `json:"first_name"`
	LastName    *string  `json:"last_name"`
	Name        *string  `json:"name"`
	Phone       *string  `json:"phone"`
	CompanyID   *string  `json:"company_id"`
	CompanyName *string  `json:"company_name"`
	Tags        []string `json:"tags"`
	CreatedAt   *int64   `json:"created_at"`
	UpdatedAt   *int64   `json:"updated_at"`
	Attributes  *string  `json:"attributes"`
}

// writerStats is what each writer program prints.
type writerStats struct {
	Rows         int     `json:"rows"`
	LoadSeconds  float64 `json:"load_seconds"`
	WriteSeconds float64 `json:"write_seconds"`
	RSSAfterLoad int64   `json:"rss_after_load"`
}

// writeArrowMain is `bench write-arrow IN.jsonl OUT_DIR`: every row into
// memory first, then timed, written the way etl writes end_user_sources
// (Arrow batches of extract.DefaultBatchRows through load's TableWriter).
func writeArrowMain(args []string) {
	if len(args) != 2 {
		fatal(fmt.Errorf("usage: bench write-arrow IN.jsonl OUT_DIR"))
	}
	t0 := time.Now()
	rows, err := readRows(args[0])
	if err != nil {
		fatal(err)
	}
	st := writerStats{Rows: len(rows), LoadSeconds: time.Since(t0).Seconds(), RSSAfterLoad: rss()}
	t1 := time.Now()
	ctx := context.Background()
	out, err := store.Open(ctx, args[1])
	if err != nil {
		fatal(err)
	}
	part := load.NewPartition(out, runDate, "arrow")
	tw := part.Table(ctx, schemas.TableSources, schemas.EndUserSources)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schemas.EndUserSources)
	flush := func() {
		rec := b.NewRecord()
		defer rec.Release()
		if err := tw.Write(rec); err != nil {
			fatal(err)
		}
	}
	for i := range rows {
		appendRow(b, &rows[i])
		if (i+1)%extract.DefaultBatchRows == 0 {
			flush()
		}
	}
	flush()
	if _, err := part.CloseTable(schemas.TableSources); err != nil {
		fatal(err)
	}
	st.WriteSeconds = time.Since(t1).Seconds()
	json.NewEncoder(os.Stdout).Encode(st)
}

func appendRow(b *array.RecordBuilder, r *row) {
	str := func(c int, v *string) {
		sb := b.Field(c).(*array.StringBuilder)
		if v == nil {
			sb.AppendNull()
		} else {
			sb.Append(*v)
		}
	}
	list := func(c int, vs []string) {
		lb := b.Field(c).(*array.ListBuilder)
		if vs == nil {
			lb.AppendNull()
			return
		}
		lb.Append(true)
		for _, v := range vs {
			lb.ValueBuilder().(*array.StringBuilder).Append(v)
		}
	}
	ts := func(c int, v *int64) {
		tb := b.Field(c).(*array.TimestampBuilder)
		if v == nil {
			tb.AppendNull()
		} else {
			tb.Append(arrow.Timestamp(*v))
		}
	}
	str(schemas.SrcSource, &r.Source)
	str(schemas.SrcSourceID, &r.SourceID)
	str(schemas.SrcPersonID, r.PersonID)
	str(schemas.SrcEmail, r.Email)
	list(schemas.SrcEmails, r.Emails)
	str(schemas.SrcExternalID, r.ExternalID)
	str(schemas.SrcFirstName, r.FirstName)
	str(schemas.SrcLastName, r.LastName)
	str(schemas.SrcName, r.Name)
	str(schemas.SrcPhone, r.Phone)
	str(schemas.SrcCompanyID, r.CompanyID)
	str(schemas.SrcCompanyName, r.CompanyName)
	list(schemas.SrcTags, r.Tags)
	ts(schemas.SrcCreatedAt, r.CreatedAt)
	ts(schemas.SrcUpdatedAt, r.UpdatedAt)
	str(schemas.SrcAttributes, r.Attributes)
}

func readRows(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	runtime.GC()
	return rows, sc.Err()
}

// rss is the process's resident set now.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

// writers is bench 4: bench 2's end_user_sources rows written by our pqarrow
// writer and by xitongsys/parquet-go.
func (b *bench) writers() error {
	if b.sourcesParquet1M == "" {
		return fmt.Errorf("needs bench 2's end_user_sources output: run with -only 2,4")
	}
	dir := filepath.Join(b.work, "writers")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	in := filepath.Join(dir, "rows.jsonl")
	if _, _, err := b.duckdb(fmt.Sprintf("COPY (SELECT * REPLACE (epoch_us(created_at) AS created_at, epoch_us(updated_at) AS updated_at) "+
		"FROM read_parquet('%s')) TO '%s' (FORMAT json)", b.sourcesParquet1M, in)); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	arrowDir := filepath.Join(dir, "arrow")
	pa, err := b.run(self, "write-arrow", in, arrowDir)
	if err != nil {
		return err
	}
	pqgoFile := filepath.Join(dir, "parquetgo.parquet")
	pg, err := b.run(b.pqgoBin, in, pqgoFile)
	if err != nil {
		return err
	}
	var sa, sg writerStats
	if err := json.Unmarshal([]byte(pa.Stdout), &sa); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(pg.Stdout), &sg); err != nil {
		return err
	}
	arrowGlob := filepath.Join(arrowDir, schemas.TableSources, "dt="+runDate, "*.parquet")
	arrowSize, err := globSize(arrowGlob)
	if err != nil {
		return err
	}
	fi, err := os.Stat(pqgoFile)
	if err != nil {
		return err
	}
	// Both files as DuckDB reads them, compared row for row in both directions.
	cols := "source, source_id, person_id, email, coalesce(emails, []::VARCHAR[]) AS emails, external_id, first_name, last_name, name, phone, " +
		"company_id, company_name, coalesce(tags, []::VARCHAR[]) AS tags, " +
		"epoch_us(created_at) AS created_at, epoch_us(updated_at) AS updated_at, attributes"
	_, rows, err := b.duckdb(fmt.Sprintf("WITH a AS (SELECT %[1]s FROM read_parquet('%[2]s')), g AS (SELECT %[1]s FROM read_parquet('%[3]s')) "+
		"SELECT (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM g) AS g, "+
		"(SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM g)) AS only_a, "+
		"(SELECT count(*) FROM (SELECT * FROM g EXCEPT ALL SELECT * FROM a)) AS only_g", cols, arrowGlob, pqgoFile))
	if err != nil {
		return err
	}
	r := rows[0]
	same := fmt.Sprint(r["a"]) == fmt.Sprint(r["g"]) && fmt.Sprint(r["only_a"]) == "0" && fmt.Sprint(r["only_g"]) == "0"
	sec := b.add(section{title: "4. Parquet writer peer: pqarrow against xitongsys/parquet-go",
		intro: fmt.Sprintf("Bench 2's %s `end_user_sources` rows, exported by DuckDB as JSON lines; each writer program loads "+
			"them all into memory, then writes them zstd-compressed: ours (`bench write-arrow`) in Arrow batches of %d through "+
			"`load`'s TableWriter (pqarrow, row groups of %s rows), the peer (`bench/parquetgo`, its own module) with "+
			"`xitongsys/parquet-go` v1.6.2's struct writer (row groups of 128 MiB, %d goroutines). Write time is timed inside each "+
			"program, after loading; peak RSS includes the loaded rows (RSS after loading shown too).",
			count(sa.Rows), extract.DefaultBatchRows, count(load.DefaultRowGroupRows), runtime.NumCPU())})
	sec.notes = append(sec.notes, "parquet-go v1.6.2 loses the values of an OPTIONAL LIST column written from a struct "+
		"(every list came back empty or [null]), so the peer declares `emails` and `tags` REQUIRED and writes a null list as "+
		"an empty one; the comparison counts null and empty lists as equal.")
	ratio := sg.WriteSeconds / sa.WriteSeconds
	sec.rows = append(sec.rows,
		[4]string{"write time: pqarrow / parquet-go", fmt.Sprintf("%.2f s / %.2f s (parquet-go %.2fx ours)", sa.WriteSeconds, sg.WriteSeconds, ratio), "", ""},
		[4]string{"process wall: pqarrow / parquet-go", fmt.Sprintf("%s / %s", secs(pa.Wall), secs(pg.Wall)), "", ""},
		[4]string{"peak RSS: pqarrow / parquet-go", fmt.Sprintf("%s / %s", mib(pa.MaxRSS), mib(pg.MaxRSS)), "", ""},
		[4]string{"RSS after loading the rows: pqarrow / parquet-go", fmt.Sprintf("%s / %s", mib(sa.RSSAfterLoad), mib(sg.RSSAfterLoad)), "", ""},
		[4]string{"file size: pqarrow / parquet-go", fmt.Sprintf("%s / %s", mib(arrowSize), mib(fi.Size())), "", ""},
		[4]string{"DuckDB: rows in each, rows only in one", fmt.Sprintf("%v / %v, %v / %v", r["a"], r["g"], r["only_a"], r["only_g"]), "same rows", verdict(same)},
	)
	return nil
}

func globSize(glob string) (int64, error) {
	names, err := filepath.Glob(glob)
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("no file matches %s", glob)
	}
	var n int64
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			return 0, err
		}
		n += fi.Size()
	}
	return n, nil
}
