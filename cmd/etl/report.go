package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/config"
	"etl/internal/run"
	"etl/schemas"
)

// report prints the demo's human summary: records per vendor, people found,
// how many people each pair of vendors shares, and the write-back plan.
func report(ctx context.Context, w io.Writer, p *config.Pipeline, sum *run.Summary) error {
	var names []string
	for n := range sum.Sources {
		names = append(names, n)
	}
	slices.Sort(names)
	shared := map[[2]string]int{}
	err := run.ReadTable(ctx, p, schemas.TableUsers, sum.RunDate, memory.DefaultAllocator, func(rec arrow.Record) error {
		srcs := rec.Column(schemas.UsrSources).(*array.List)
		vals := srcs.ListValues().(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			a, b := srcs.ValueOffsets(i)
			var in []string
			for j := a; j < b; j++ {
				in = append(in, vals.Value(int(j)))
			}
			for _, x := range in {
				for _, y := range in {
					shared[[2]string{x, y}]++
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRecords per vendor:\n")
	var total int64
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %8d\n", n, sum.Sources[n].Extracted)
		total += sum.Sources[n].Extracted
	}
	persons := int64(0)
	if sum.Resolve != nil {
		persons = sum.Resolve.Persons
	}
	fmt.Fprintf(w, "People found: %d in %d records\n", persons, total)
	if sum.Resolve != nil {
		var parts []string
		for k := 1; k <= len(names); k++ {
			parts = append(parts, fmt.Sprintf("%d in %d vendor(s)", sum.Resolve.PersonsByVendors[k], k))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\nPeople each pair of vendors shares (diagonal: people in that vendor):\n%-10s", "")
	for _, n := range names {
		fmt.Fprintf(w, " %8s", n)
	}
	fmt.Fprintln(w)
	for _, x := range names {
		fmt.Fprintf(w, "%-10s", x)
		for _, y := range names {
			fmt.Fprintf(w, " %8d", shared[[2]string{x, y}])
		}
		fmt.Fprintln(w)
	}
	if len(sum.Writeback) > 0 {
		fmt.Fprintf(w, "\nWrite-back:\n")
		var targets []string
		for t := range sum.Writeback {
			targets = append(targets, t)
		}
		slices.Sort(targets)
		for _, t := range targets {
			s := sum.Writeback[t]
			var fields []string
			for f, n := range s.Fields {
				fields = append(fields, fmt.Sprintf("%s %d", f, n))
			}
			slices.Sort(fields)
			fmt.Fprintf(w, "  %-10s planned %d, sent %d, failed %d, conflicts %d, unchanged %d (%s)\n", t, s.Planned, s.Sent, s.Failed, s.Conflicts, s.Unchanged, strings.Join(fields, ", "))
		}
	}
	uri := p.Output.URI
	if p.Output.Format == config.FormatIceberg {
		fmt.Fprintf(w, "\nIceberg tables under %s, in the catalog %s (namespace %s); see README, \"Table formats\", to query them\n\n",
			uri, p.Output.Catalog.URI, p.Output.Catalog.Namespace)
		return nil
	}
	fmt.Fprintf(w, "\nTables under %s (DuckDB: SELECT * FROM read_parquet('%s/end_users/dt=%s/*.parquet'))\n\n", uri, uri, sum.RunDate)
	return nil
}
