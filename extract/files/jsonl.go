package files

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unsafe"

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
	lr := lineReader{r: rc, size: chunkSize}
	for n := 1; ; n++ {
		if n%checkEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, long, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", in.name, err)
		}
		at := place{file: in.name, n: n}
		if n == 1 {
			line = strings.TrimPrefix(line, string(bom))
			w.Expect(expectRecords(in.rest, int64(strings.Count(lr.s, "\n"))+1, int64(len(lr.s))))
		}
		line = strings.TrimSpace(line)
		switch {
		case long:
			err = w.Reject("", fmt.Sprintf("%s: line longer than %d MiB", at, MaxLine>>20), nil)
		case len(line) == 0:
			continue
		case line[0] != '{':
			if raw := []byte(line); !json.Valid(raw) {
				err = invalid(w, at, raw)
			} else {
				err = w.Reject("", at.String()+": not a JSON object", raw)
			}
		default:
			err = e.emitLine(w, dec, at, line)
		}
		if err != nil {
			return err
		}
	}
}

// expectRecords estimates the records of a source's files from this one on
// (rest bytes: 0 when a size is unknown, as an S3 object's) from the bytes
// the first records of this one took: the writer is then sized once for
// the whole source, not again file after file.
func expectRecords(rest, records, bytes int64) int64 {
	if rest <= 0 || bytes <= 0 {
		return 0
	}
	return rest * records / bytes
}

// emitLine is emit for a line that may not be valid JSON, parsed once:
// every shape's decoder checks the record as it reads it (its one pass, or
// json.Unmarshal, which validates the whole line first), so a line that
// decodes is valid JSON, and only a line that does not is validated again,
// to reject it as invalid JSON as before.
func (e *Extractor) emitLine(w *extract.Writer, dec decoder, at place, line string) error {
	row, skip, err := dec(line)
	switch {
	case err != nil && !json.Valid([]byte(line)):
		return invalid(w, at, []byte(line))
	case err != nil:
		return w.Reject(extract.GuessID([]byte(line), e.shape.id), at.String()+": "+err.Error(), []byte(line))
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

// chunkSize is how much of a file is read at once.
const chunkSize = 1 << 20

// lineReader cuts lines out of a file read a chunk at a time, each chunk
// read into memory of its own and made a string as it is (never written
// again): a record's values are substrings of it (until they are appended
// to a batch; whatever keeps one longer, a cache or a reject, keeps the
// chunk alive, unchanged), so no line or chunk is copied.
type lineReader struct {
	r    io.Reader
	size int    // the next chunk's; grows for a line longer than a chunk
	s    string // the chunk being cut
	off  int    // where the next line starts in s
	err  error  // the reader's, once it returned one
}

// next returns the next line without its end (every "\r" and "\n" it ends
// with). A line longer than MaxLine is read to its end but not kept (long
// is set). At the end of the input it returns io.EOF.
func (l *lineReader) next() (line string, long bool, err error) {
	for {
		rest := l.s[l.off:]
		// A line is kept with at most MaxLine+2 bytes, its end included.
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			l.off += i + 1
			if long || i+1 > MaxLine+2 {
				return "", true, nil
			}
			return strings.TrimRight(rest[:i], "\r"), false, nil
		}
		if l.err != nil {
			if l.err != io.EOF {
				return "", false, l.err
			}
			l.off = len(l.s)
			switch {
			case long || len(rest) > MaxLine+2:
				return "", true, nil
			case len(rest) > 0:
				return strings.TrimRight(rest, "\r"), false, nil
			}
			return "", false, io.EOF
		}
		if long || len(rest) > MaxLine+2 {
			long, rest = true, "" // what is read of it is dropped
		}
		l.fill(rest)
	}
}

// fill makes s the unfinished line rest followed by the next chunk of the
// input: size bytes, which double when rest would fill more than half of
// them. The chunk is new memory, as the previous one's lines may still be
// in use; making it a string without a copy saves copying every byte read
// (zeroing the new memory costs less), and is safe as nothing writes to
// buf once it is s.
func (l *lineReader) fill(rest string) {
	if len(rest) > l.size/2 {
		l.size *= 2
	}
	buf := make([]byte, l.size)
	n := copy(buf, rest)
	for n < len(buf) && l.err == nil {
		var m int
		m, l.err = l.r.Read(buf[n:])
		n += m
	}
	l.s, l.off = unsafe.String(unsafe.SliceData(buf), n), 0
}
