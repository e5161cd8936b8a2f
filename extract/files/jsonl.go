package files

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"etl/extract"
)

// MaxLine bounds one JSON line; a longer one is rejected, not buffered.
const MaxLine = 16 << 20

var bom = []byte("\xef\xbb\xbf")

// readJSONL reads one record per line; blank lines are skipped.
func (e *Extractor) readJSONL(ctx context.Context, in input, w *extract.Writer) error {
	rc, err := in.open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	var buf []byte
	for n := 1; ; n++ {
		if n%checkEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, long, err := readLine(r, buf[:0])
		buf = line
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", in.name, err)
		}
		at := place{file: in.name, n: n}
		if n == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		line = bytes.TrimSpace(line)
		switch {
		case long:
			err = w.Reject("", fmt.Sprintf("%s: line longer than %d MiB", at, MaxLine>>20), nil)
		case len(line) == 0:
			continue
		case !json.Valid(line):
			var v any // decoded again only to say what is wrong
			jerr := json.Unmarshal(line, &v)
			err = w.Reject("", fmt.Sprintf("%s: invalid JSON: %v", at, jerr), line)
		case line[0] != '{':
			err = w.Reject("", at.String()+": not a JSON object", line)
		default:
			err = e.emit(w, at, line)
		}
		if err != nil {
			return err
		}
	}
}

// readLine appends the next line, without its end, to buf. A line longer
// than MaxLine is read to its end but not kept (long is set). At the end of
// the input it returns io.EOF.
func readLine(r *bufio.Reader, buf []byte) (line []byte, long bool, err error) {
	read := false
	for {
		frag, err := r.ReadSlice('\n')
		read = read || len(frag) > 0
		if !long && len(buf)+len(frag) <= MaxLine+2 { // +2: the line's end
			buf = append(buf, frag...)
		} else {
			long, buf = true, buf[:0]
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && read:
			err = nil
		}
		return bytes.TrimRight(buf, "\r\n"), long, err
	}
}
