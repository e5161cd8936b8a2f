package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"etl/internal/vendors"
)

// dataDir generates (once; later runs reuse it) the vendor-shaped JSONL
// files of total records.
func (b *bench) dataDir(total int) (string, time.Duration, error) {
	dir := filepath.Join(b.work, "data", fmt.Sprint(total))
	took, err := dataset{total: total}.writeFiles(dir)
	return dir, took, err
}

// warm reads every file under dir, so that each timed run, etl's or
// DuckDB's, starts with the exports in the page cache, as after their
// download: etl lets go of the pages of what it read (store.OpenOnce), so
// that the run after it would otherwise read them from the disk.
func warm(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	})
}

// filesPipeline reads the four vendors' exports as file sources.
func filesPipeline(path, data, out string) {
	var src strings.Builder
	src.WriteString("version: 1\nsources:\n  files:\n")
	for _, v := range vendors.Names {
		fmt.Fprintf(&src, "    - {name: %s_export, path: %q, format: jsonl, shape: %s}\n", v, filepath.Join(data, v, "*.jsonl"), v)
	}
	fmt.Fprintf(&src, "output: {uri: %q}\n", out)
	mustWrite(path, src.String())
}

// files is bench 2: the same 1M records as JSONL exports, etl against DuckDB.
func (b *bench) files() error {
	total := b.n(1_000_000)
	data, gen, err := b.dataDir(total)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.work, "files")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	pipe := filepath.Join(dir, "pipeline.yaml")
	out := filepath.Join(dir, "out")
	filesPipeline(pipe, data, out)
	duckOut := filepath.Join(dir, "duckdb.parquet")
	sql := duckdbSQL(data, duckOut)

	var etlRuns, duckRuns, baseRuns []proc
	var s summary
	for range b.repeat {
		// Each run writes the date afresh, as a nightly run writes a new
		// one: a run over the last one's output also removes it (4 GB of
		// cached pages at 10M, which the kernel takes seconds to drop).
		os.RemoveAll(out)
		if err := warm(data); err != nil {
			return err
		}
		p, sum, err := b.etl(b.etlBin, pipe)
		if err != nil {
			return err
		}
		etlRuns, s = append(etlRuns, p), sum
		if err := warm(data); err != nil {
			return err
		}
		dp, _, err := b.duckdb(sql)
		if err != nil {
			return err
		}
		duckRuns = append(duckRuns, dp)
		if b.baseline != "" {
			os.RemoveAll(out)
			if err := warm(data); err != nil {
				return err
			}
			bp, _, err := b.etl(b.baseline, pipe)
			if err != nil {
				return err
			}
			baseRuns = append(baseRuns, bp)
		}
	}
	if got := s.extracted(); got != int64(total) {
		return fmt.Errorf("etl extracted %d records, want %d", got, total)
	}
	_, rows, err := b.duckdb(fmt.Sprintf("SELECT count(*) AS n FROM read_parquet('%s')", duckOut))
	if err != nil {
		return err
	}
	e, d := fastest(etlRuns), fastest(duckRuns)
	b.filesEtl1M, b.filesEtl1MOK, b.filesRecords1M = e, true, total
	b.sourcesParquet1M = filepath.Join(out, "end_user_sources", "dt="+runDate, "*.parquet")
	ratio := e.Wall.Seconds() / d.Wall.Seconds()
	// CPU per record from each side's least CPU, the steadier figure on a
	// shared machine.
	ec, dc := leastCPU(etlRuns), leastCPU(duckRuns)
	cpuRatio := ec.Seconds() / dc.Seconds()
	sec := b.add(section{title: "2. File path against DuckDB",
		intro: fmt.Sprintf("The same %s records as vendor-shaped JSON lines (%s per vendor, in files of %s; generated in %s by "+
			"this or an earlier run), read by `etl run` with four file sources, and by DuckDB (`@duckdb/node-api`) "+
			"running `COPY (SELECT <the normalised columns> FROM read_json(...) UNION ALL ...) TO ... (FORMAT parquet, COMPRESSION zstd)` "+
			"on the same files, alternately, %d time(s) each (etl each time into an empty output directory, as a new date; every run of either starting with the files in the page cache); the fastest of each counts. DuckDB only maps and trims columns "+
			"(it cannot write E.164 phones, sort attribute keys or resolve identities); etl also resolves identities and writes "+
			"`end_users` and `rejects`.", count(total), count(total/4), count(fileRecords), secs(gen), b.repeat)})
	sec.rows = append(sec.rows,
		[4]string{"etl wall", secs(e.Wall), "", ""},
		[4]string{"DuckDB wall", secs(d.Wall), "", ""},
		[4]string{"etl / DuckDB wall", fmt.Sprintf("%.2fx", ratio), "≤ 1.2x", b.verdict(ratio <= 1.2)},
		[4]string{"etl throughput", fmt.Sprintf("%.0f records/s", float64(total)/e.Wall.Seconds()), "", ""},
		[4]string{"etl peak RSS / CPU", fmt.Sprintf("%s / %s", mib(e.MaxRSS), secs(e.CPU())), "", ""},
		[4]string{"DuckDB peak RSS / CPU", fmt.Sprintf("%s / %s", mib(d.MaxRSS), secs(d.CPU())), "", ""},
		[4]string{"CPU per record: etl / DuckDB (least of each's runs)", fmt.Sprintf("%.1f µs / %.1f µs (%.2fx)", ec.Seconds()/float64(total)*1e6,
			dc.Seconds()/float64(total)*1e6, cpuRatio), "≤ 1.4x", b.verdict(cpuRatio <= 1.4)},
		[4]string{"etl cores busy (CPU / wall)", fmt.Sprintf("%.2f", e.CPU().Seconds()/e.Wall.Seconds()), "", ""},
		[4]string{"rows written: etl end_user_sources / DuckDB", fmt.Sprintf("%s / %v", count(int(s.Tables["end_user_sources"].Rows)), rows[0]["n"]), "equal", verdict(fmt.Sprint(s.Tables["end_user_sources"].Rows) == fmt.Sprint(rows[0]["n"]))},
	)
	if len(baseRuns) > 0 {
		base := fastest(baseRuns)
		sec.rows = append(sec.rows, [4]string{"etl before this issue's optimisations (`-baseline`): wall / CPU / peak RSS",
			fmt.Sprintf("%s / %s / %s: now %.2fx the wall, %.2fx the CPU", secs(base.Wall), secs(base.CPU()), mib(base.MaxRSS),
				e.Wall.Seconds()/base.Wall.Seconds(), e.CPU().Seconds()/base.CPU().Seconds()), "", ""})
	}
	var runs []string
	for i := range etlRuns {
		r := fmt.Sprintf("etl %s (CPU %s) / DuckDB %s (CPU %s)", secs(etlRuns[i].Wall), secs(etlRuns[i].CPU()), secs(duckRuns[i].Wall), secs(duckRuns[i].CPU()))
		if i < len(baseRuns) {
			r += " / baseline etl " + secs(baseRuns[i].Wall)
		}
		runs = append(runs, r)
	}
	sec.notes = append(sec.notes, "Every run: "+strings.Join(runs, "; ")+".", "etl per source (extract and normalise, four at once): "+perSource(s)+".")

	// The decoders considered for vendor records, and where the time goes.
	dec, err := b.run("go", "test", "-run", "^$", "-bench", "Decoders", "-benchmem", "./extract/planhat/")
	if err != nil {
		return err
	}
	var lines []string
	for _, l := range strings.Split(dec.Stdout, "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, l)
		}
	}
	sec.notes = append(sec.notes, "JSON decoders for one Planhat end user (`go test -run '^$' -bench Decoders -benchmem ./extract/planhat/`, "+
		"on the same machine at the same time): `*/wire` is json.Unmarshal into the connector's wire struct with encoding/json, "+
		"goccy/go-json v0.12, go-json-experiment/json v1.27 (what becomes encoding/json/v2; it matches keys with case and refuses "+
		"repeated keys, so it does not accept what encoding/json accepts), and goccy behind encoding/json's validation (to keep "+
		"its accept/reject); `jsontext/tokens` and `jsonscan/skip` read and validate every token, building nothing (the tokenizers "+
		"alone); `encoding-json/Decode` is the old whole decode of a record into its row, `jsonscan/Decoder` the one pass that runs "+
		"(values as substrings of the record, custom fields straight to canonical JSON, encoding/json only for what it leaves):\n\n```\n"+
		strings.Join(lines, "\n")+"\n```")
	if err := warm(data); err != nil {
		return err
	}
	top, err := b.profile(pipe, "files")
	if err != nil {
		return err
	}
	sec.notes = append(sec.notes, top)
	return nil
}

func leastCPU(ps []proc) time.Duration {
	least := ps[0].CPU()
	for _, p := range ps[1:] {
		least = min(least, p.CPU())
	}
	return least
}

func fastest(ps []proc) proc {
	best := ps[0]
	for _, p := range ps[1:] {
		if p.Wall < best.Wall {
			best = p
		}
	}
	return best
}

// scale10M is bench 5: 10M records through the file path, against bench 2's 1M.
func (b *bench) scale10M() error {
	total := b.n(10_000_000)
	data, gen, err := b.dataDir(total)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.work, "scale")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	pipe := filepath.Join(dir, "pipeline.yaml")
	out := filepath.Join(dir, "out")
	filesPipeline(pipe, data, out)
	sec := b.add(section{title: "5. Scale: 10M records through the file path",
		intro: fmt.Sprintf("%s vendor-shaped JSONL records (generated in %s by this or an earlier run), `etl run` with four file sources, "+
			"%d times, each into an empty output directory with the files in the page cache; the fastest counts, as bench 2's fastest run of %s records does, and the peak RSS is the highest of the runs.",
			count(total), secs(gen), b.repeat, count(b.filesRecords1M))})
	// As many runs as bench 2 makes of 1M (-repeat): on a shared machine
	// one run's wall moves by 5-10% with the neighbours' load, and the
	// fastest of fewer runs would be slower for that alone.
	var runs []proc
	var s summary
	for range b.repeat {
		os.RemoveAll(out) // a fresh date each run, as in bench 2
		if err := warm(data); err != nil {
			return err
		}
		r, sum, err := b.etl(b.etlBin, pipe)
		if err != nil {
			return err
		}
		runs, s = append(runs, r), sum
	}
	p := fastest(runs)
	for _, r := range runs {
		p.MaxRSS = max(p.MaxRSS, r.MaxRSS)
	}
	if got := s.extracted(); got != int64(total) {
		return fmt.Errorf("etl extracted %d records, want %d", got, total)
	}
	sec.rows = append(sec.rows,
		[4]string{"wall", secs(p.Wall), "", ""},
		[4]string{"throughput", fmt.Sprintf("%.0f records/s", float64(total)/p.Wall.Seconds()), "", ""},
		[4]string{"peak RSS of etl", mib(p.MaxRSS), "≤ 1.5 GB", b.verdict(p.MaxRSS <= 1.5e9)},
		[4]string{"etl CPU (user+sys)", secs(p.CPU()), "", ""},
	)
	if b.filesEtl1MOK {
		one := b.filesEtl1M
		growth := p.Wall.Seconds() / one.Wall.Seconds()
		records := float64(total) / float64(b.filesRecords1M)
		sec.rows = append(sec.rows,
			[4]string{fmt.Sprintf("wall %s / wall %s", count(total), count(b.filesRecords1M)), fmt.Sprintf("%.2fx (%s / %s) for %.0fx the records", growth, secs(p.Wall), secs(one.Wall), records),
				fmt.Sprintf("≤ %.1fx", records*1.05), b.verdict(growth <= records*1.05)},
			[4]string{fmt.Sprintf("etl CPU %s / CPU %s", count(total), count(b.filesRecords1M)),
				fmt.Sprintf("%.2fx (%s / %s): wall grows faster than CPU when other work takes the cores", p.CPU().Seconds()/one.CPU().Seconds(), secs(p.CPU()), secs(one.CPU())),
				"", ""},
			[4]string{fmt.Sprintf("time per record at %s / %s", count(b.filesRecords1M), count(total)), fmt.Sprintf("%.2f µs / %.2f µs", one.Wall.Seconds()/float64(b.filesRecords1M)*1e6, p.Wall.Seconds()/float64(total)*1e6), "", ""},
			[4]string{fmt.Sprintf("peak RSS at %s / %s", count(b.filesRecords1M), count(total)), fmt.Sprintf("%s / %s", mib(one.MaxRSS), mib(p.MaxRSS)), "", ""},
		)
	} else {
		sec.notes = append(sec.notes, "Bench 2 did not run, so there is no 1M figure to scale from (run with `-only 2,5`).")
	}
	var every []string
	for _, r := range runs {
		every = append(every, fmt.Sprintf("%s (CPU %s, peak RSS %s)", secs(r.Wall), secs(r.CPU()), mib(r.MaxRSS)))
	}
	sec.notes = append(sec.notes, "Every run: "+strings.Join(every, "; ")+".")
	sec.notes = append(sec.notes, "Per source: "+perSource(s)+fmt.Sprintf(". Persons resolved: %s.", count(int(s.Resolve.Persons))))
	// Where the time goes at 10M, to compare with bench 2's profile at 1M.
	if err := warm(data); err != nil {
		return err
	}
	top, err := b.profile(pipe, "scale")
	if err != nil {
		return err
	}
	sec.notes = append(sec.notes, top)
	return nil
}

// duckdbSQL maps each vendor's export onto the end_user_sources columns the
// way etl normalises them, as far as SQL can: emails trimmed, lower-cased and
// validated, lists sorted and unique, names trimmed and composed, times UTC.
func duckdbSQL(data, out string) string {
	glob := func(v string) string { return filepath.Join(data, v, "*.jsonl") }
	email := func(x string) string {
		return fmt.Sprintf(`CASE WHEN regexp_full_match(lower(trim(%[1]s)), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN lower(trim(%[1]s)) END`, x)
	}
	emails := func(primary, others string) string {
		return fmt.Sprintf(`nullif(list_sort(list_distinct(list_filter(list_transform(list_concat([%s], %s), x -> lower(trim(x))), x -> regexp_full_match(x, '[^@\s]+@[^@\s]+\.[^@\s]+')))), [])`, primary, others)
	}
	text := func(x string) string { return fmt.Sprintf("nullif(trim(%s), '')", x) }
	name := func(n, f, l string) string {
		return fmt.Sprintf("coalesce(%s, nullif(trim(concat_ws(' ', %s, %s)), ''))", text(n), text(f), text(l))
	}
	ts := func(x string) string {
		return fmt.Sprintf("try_cast(regexp_replace(%s, '\\[.*\\]$', '') AS TIMESTAMPTZ)", x)
	}
	tags := func(x string) string { return fmt.Sprintf("nullif(list_sort(list_distinct(%s)), [])", x) }
	sel := func(source, id, em, ems, ext, first, last, nm, phone, compID, compName, tg, created, updated, attrs, from string) string {
		return fmt.Sprintf("SELECT '%s_export' AS source, %s AS source_id, NULL::VARCHAR AS person_id, %s AS email, %s AS emails, "+
			"%s AS external_id, %s AS first_name, %s AS last_name, %s AS name, %s AS phone, %s AS company_id, %s AS company_name, "+
			"%s AS tags, %s AS created_at, %s AS updated_at, %s AS attributes FROM %s",
			source, id, em, ems, ext, first, last, nm, phone, compID, compName, tg, created, updated, attrs, from)
	}
	readJSON := func(v, columns string) string {
		return fmt.Sprintf("read_json('%s', format = 'newline_delimited', columns = {%s})", glob(v), columns)
	}
	planhatSQL := sel(vendors.Planhat, `"_id"`, email("email"), emails("email", "otherEmails"), text("externalId"),
		text("firstName"), text("lastName"), name("name", "firstName", "lastName"), text("phone"), text("companyId"), text("companyName"),
		tags("tags"), ts("createDate"), ts("updatedAt"), "CAST(custom AS VARCHAR)",
		readJSON(vendors.Planhat, `'_id': 'VARCHAR', email: 'VARCHAR', firstName: 'VARCHAR', lastName: 'VARCHAR', name: 'VARCHAR', `+
			`companyId: 'VARCHAR', companyName: 'VARCHAR', externalId: 'VARCHAR', phone: 'VARCHAR', tags: 'VARCHAR[]', `+
			`otherEmails: 'VARCHAR[]', archived: 'BOOLEAN', createDate: 'VARCHAR', updatedAt: 'VARCHAR', custom: 'JSON'`)+
			" WHERE NOT coalesce(archived, false)")
	dixaSQL := sel(vendors.Dixa, "id", email("email"), emails("email", "additionalEmails"), text("externalId"),
		text("firstName"), text("lastName"), name("displayName", "firstName", "lastName"), text("phoneNumber"), "NULL", "NULL",
		"NULL::VARCHAR[]", ts("createdAt"), "NULL::TIMESTAMPTZ", "CAST(customAttributes AS VARCHAR)",
		readJSON(vendors.Dixa, `id: 'VARCHAR', createdAt: 'VARCHAR', displayName: 'VARCHAR', email: 'VARCHAR', phoneNumber: 'VARCHAR', `+
			`additionalEmails: 'VARCHAR[]', firstName: 'VARCHAR', lastName: 'VARCHAR', externalId: 'VARCHAR', customAttributes: 'JSON'`))
	meta := func(top, key string) string {
		return fmt.Sprintf("coalesce(%s, metadata->>'%s')", text(top), key)
	}
	moesifSQL := sel(vendors.Moesif, "user_id", email(meta("email", "email")), emails(meta("email", "email"), "[]::VARCHAR[]"), text("user_id"),
		meta("first_name", "first_name"), meta("last_name", "last_name"),
		fmt.Sprintf("coalesce(%s, nullif(trim(concat_ws(' ', %s, %s)), ''))", meta("name", "name"), meta("first_name", "first_name"), meta("last_name", "last_name")),
		meta("phone", "phone"), text("company_id"), "NULL", "NULL::VARCHAR[]", ts("first_seen_time"), ts("modified_time"), "CAST(metadata AS VARCHAR)",
		readJSON(vendors.Moesif, `user_id: 'VARCHAR', company_id: 'VARCHAR', email: 'VARCHAR', name: 'VARCHAR', first_name: 'VARCHAR', `+
			`last_name: 'VARCHAR', phone: 'VARCHAR', first_seen_time: 'VARCHAR', modified_time: 'VARCHAR', metadata: 'JSON'`))
	userlotSQL := sel(vendors.Userlot, "id", email("email"), emails("email", "[]::VARCHAR[]"), text("external_id"),
		text("first_name"), text("last_name"), name("name", "first_name", "last_name"), "NULL", text("company_id"), "NULL",
		"NULL::VARCHAR[]", ts("created_at"), ts("updated_at"),
		"CAST(json_object('is_trial', is_trial, 'nps_score', nps_score, 'signup_channel', signup_channel, 'source_external_id', source_external_id, 'total_revenue', total_revenue) AS VARCHAR)",
		readJSON(vendors.Userlot, `id: 'VARCHAR', external_id: 'VARCHAR', source_external_id: 'VARCHAR', first_name: 'VARCHAR', `+
			`last_name: 'VARCHAR', name: 'VARCHAR', email: 'VARCHAR', company_id: 'VARCHAR', created_at: 'VARCHAR', updated_at: 'VARCHAR', `+
			`total_revenue: 'DOUBLE', nps_score: 'BIGINT', is_trial: 'BOOLEAN', signup_channel: 'VARCHAR'`))
	return fmt.Sprintf("COPY (%s UNION ALL %s UNION ALL %s UNION ALL %s) TO '%s' (FORMAT parquet, COMPRESSION zstd)",
		planhatSQL, dixaSQL, moesifSQL, userlotSQL, out)
}
