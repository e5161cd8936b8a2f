package files

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkLineReader cuts 32 MiB of JSONL into lines, as readJSONL reads a
// file: `go test -run '^$' -bench LineReader ./extract/files/`.
func BenchmarkLineReader(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 32<<20; i++ {
		fmt.Fprintf(&sb, `{"_id":"%024d","email":"grace.wilson.%d@gringotts.example","tags":["vip","beta"],"custom":{"Plan Tier":"free"}}`+"\n", i, i)
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		lr := lineReader{r: strings.NewReader(text), size: chunkSize}
		n := 0
		for {
			line, _, err := lr.next()
			if err == io.EOF {
				break
			}
			n += len(line)
		}
		if n == 0 {
			b.Fatal("no lines")
		}
	}
}
