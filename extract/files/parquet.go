package files

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"etl/extract"
)

// readParquet reads record batches of the file's columns, named like the
// shape's keys; each row becomes one record (nulls and blank text, as in
// CSV, are absent keys).
func (e *Extractor) readParquet(ctx context.Context, in input, w *extract.Writer, dec decoder) error {
	f, done, err := in.openFile(ctx)
	if err != nil {
		return err
	}
	defer done()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return fmt.Errorf("%s: not a Parquet file: %w", in.name, err)
	}
	defer pf.Close()
	w.Expect(pf.NumRows())
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: extract.DefaultBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	defer rr.Release()
	var obj bytes.Buffer
	row := 0
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rr.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			row++
			obj.Reset()
			obj.WriteByte('{')
			for c, col := range rec.Columns() {
				if col.IsNull(i) || blank(col, i) {
					continue
				}
				jsonKey(&obj, rec.ColumnName(c))
				jsonValue(&obj, col, i)
			}
			obj.WriteByte('}')
			if err := e.emit(w, dec, place{file: in.name, n: row, row: true}, obj.Bytes()); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", in.name, err)
	}
	return nil
}

func blank(col arrow.Array, i int) bool {
	switch a := col.(type) {
	case *array.String:
		return strings.TrimSpace(a.Value(i)) == ""
	case *array.LargeString:
		return strings.TrimSpace(a.Value(i)) == ""
	}
	return false
}

// jsonValue writes row i of col. Timestamps become RFC 3339 in UTC (a
// Parquet timestamp without a zone is taken as UTC).
func jsonValue(buf *bytes.Buffer, col arrow.Array, i int) {
	switch a := col.(type) {
	case *array.String:
		jsonText(buf, a.Value(i))
	case *array.LargeString:
		jsonText(buf, a.Value(i))
	case *array.Timestamp:
		t := a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
		buf.WriteString(`"` + t.UTC().Format(time.RFC3339Nano) + `"`)
	case *array.Date32:
		buf.WriteString(`"` + a.Value(i).ToTime().Format(time.DateOnly) + `"`)
	default:
		b, err := json.Marshal(col.GetOneForMarshal(i))
		if err != nil {
			b = []byte("null")
		}
		buf.Write(b)
	}
}
