// Command parquetgo writes end_user_sources rows with xitongsys/parquet-go, as
// the peer of our pqarrow writer in bench 4. It lives in its own module so the
// main module never depends on it.
//
//	parquetgo IN.jsonl OUT.parquet
//
// It loads every row of IN (JSON lines as DuckDB exports end_user_sources,
// times as epoch microseconds) into memory, then writes them, zstd-compressed,
// and prints its timings as JSON.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"
)

// row mirrors schemas.EndUserSources: UTF-8 strings, optional where nullable,
// lists of strings (required: v1.6.2 loses the values of an optional list
// written from a struct), UTC timestamps in microseconds.
type row struct {
	Source      string   `json:"source" parquet:"name=source, type=BYTE_ARRAY, convertedtype=UTF8"`
	SourceID    string   `json:"source_id" parquet:"name=source_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	PersonID    *string  `json:"person_id" parquet:"name=person_id, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Email       *string  `json:"email" parquet:"name=email, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Emails      []string `json:"emails" parquet:"name=emails, type=LIST, valuetype=BYTE_ARRAY, valueconvertedtype=UTF8"`
	ExternalID  *string  `json:"external_id" parquet:"name=external_id, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	FirstName   *string  `json:"first_name" parquet:"name=first_name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	LastName    *string  `json:"last_name" parquet:"name=last_name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Name        *string  `json:"name" parquet:"name=name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Phone       *string  `json:"phone" parquet:"name=phone, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	CompanyID   *string  `json:"company_id" parquet:"name=company_id, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	CompanyName *string  `json:"company_name" parquet:"name=company_name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Tags        []string `json:"tags" parquet:"name=tags, type=LIST, valuetype=BYTE_ARRAY, valueconvertedtype=UTF8"`
	CreatedAt   *int64   `json:"created_at" parquet:"name=created_at, type=INT64, repetitiontype=OPTIONAL, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MICROS"`
	UpdatedAt   *int64   `json:"updated_at" parquet:"name=updated_at, type=INT64, repetitiontype=OPTIONAL, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MICROS"`
	Attributes  *string  `json:"attributes" parquet:"name=attributes, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
}

type stats struct {
	Rows         int     `json:"rows"`
	LoadSeconds  float64 `json:"load_seconds"`
	WriteSeconds float64 `json:"write_seconds"`
	RSSAfterLoad int64   `json:"rss_after_load"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: parquetgo IN.jsonl OUT.parquet")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "parquetgo:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	t0 := time.Now()
	rows, err := readRows(in)
	if err != nil {
		return err
	}
	st := stats{Rows: len(rows), LoadSeconds: time.Since(t0).Seconds(), RSSAfterLoad: rss()}
	t1 := time.Now()
	fw, err := local.NewLocalFileWriter(out)
	if err != nil {
		return err
	}
	pw, err := writer.NewParquetWriter(fw, new(row), int64(runtime.NumCPU()))
	if err != nil {
		return err
	}
	pw.RowGroupSize = 128 << 20
	pw.CompressionType = parquet.CompressionCodec_ZSTD
	for i := range rows {
		if err := pw.Write(&rows[i]); err != nil {
			return err
		}
	}
	if err := pw.WriteStop(); err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	st.WriteSeconds = time.Since(t1).Seconds()
	return json.NewEncoder(os.Stdout).Encode(st)
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
