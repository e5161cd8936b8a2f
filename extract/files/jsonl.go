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
func (e *Extractor) readJSONL(ctx context.Context, in input, w *extract.Writer, dec decoder) error {
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
		case line[0] != '{':
			if !json.Valid(line) {
				err = invalid(w, at, line)
			} else {
				err = w.Reject("", at.String()+": not a JSON object", line)
			}
		default:
			err = e.emitLine(w, dec, at, line)
		}
		if err != nil {
			return err
		}
	}
}

// emitLine is emit for a line that may not be valid JSON, parsed once:
// every shape's decoder checks the record as it reads it (its one pass, or
// json.Unmarshal, which validates the whole line first), so a line that
// decodes is valid JSON, and only a line that does not is validated again,
// to reject it as invalid JSON as before.
func (e *Extractor) emitLine(w *extract.Writer, dec decoder, at place, line []byte) error {
	row, skip, err := dec(string(line))
	switch {
	case err != nil && !json.Valid(line):
		return invalid(w, at, line)
	case err != nil:
		return w.Reject(extract.GuessID(line, e.shape.id), at.String()+": "+err.Error(), line)
	case skip:
		w.Skip()
		return nil
	}
	return w.Append(row)
}

// invalid rejects a line that is not valid JSON, saying what is wrong with it.
func invalid(w *extract.Writer, at place, line []byte) error {
	var v any // decoded again only to say what is wrong
	jerr := json.Unmarshal(line, &v)
	return w.Reject("", fmt.Sprintf("%s: invalid JSON: %v", at, jerr), line)
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
