package files

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"etl/extract"
)

// readCSV reads a header row naming the shape's keys, then one record per
// row. Cells are text; empty ones are absent. A cell holding a JSON object or
// array is that JSON; a list key's cell may instead separate items with ';'.
func (e *Extractor) readCSV(ctx context.Context, in input, w *extract.Writer, dec decoder) error {
	rc, err := in.open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if b, _ := br.Peek(len(bom)); bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	cr := csv.NewReader(br)
	cr.LazyQuotes = true // stray quotes in exported names are common
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: reading the header: %w", in.name, err)
	}
	header = slices.Clone(header)
	lists := make([]bool, len(header))
	for i, h := range header {
		header[i] = strings.TrimSpace(h)
		lists[i] = slices.Contains(e.shape.lists, header[i])
	}
	var obj bytes.Buffer
	for n := int64(1); ; n++ {
		if n%checkEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			reason := pe.Err.Error()
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				reason = fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))
			}
			if err := w.Reject("", fmt.Sprintf("%s: malformed CSV: %s", place{file: in.name, n: pe.StartLine}, reason), csvLine(rec)); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", in.name, err)
		}
		if n == csvSample {
			w.Expect(expectRecords(in.rest, n, cr.InputOffset()) - n)
		}
		line, _ := cr.FieldPos(0)
		obj.Reset()
		obj.WriteByte('{')
		for i, v := range rec {
			if header[i] == "" || strings.TrimSpace(v) == "" {
				continue
			}
			jsonKey(&obj, header[i])
			if lists[i] {
				jsonList(&obj, v)
			} else {
				jsonText(&obj, v)
			}
		}
		obj.WriteByte('}')
		if err := e.emit(w, dec, place{file: in.name, n: line}, obj.Bytes()); err != nil {
			return err
		}
	}
}

// jsonList writes a list cell: a JSON array as it is, else items separated by ';'.
func jsonList(buf *bytes.Buffer, s string) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") && json.Valid([]byte(t)) {
		buf.WriteString(t)
		return
	}
	var items []string
	for _, it := range strings.Split(t, ";") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	b, _ := json.Marshal(items)
	buf.Write(b)
}

// csvLine re-encodes a rejected row for the rejects table.
func csvLine(rec []string) []byte {
	if rec == nil {
		return nil
	}
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write(rec)
	cw.Flush()
	return bytes.TrimRight(b.Bytes(), "\n")
}

// csvSample is how many rows of a CSV file estimate its rows (Expect).
const csvSample = 1024
