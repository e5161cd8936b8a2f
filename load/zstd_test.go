package load

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// Pages compressed by the codec Parquet writers use decode to the same
// bytes with a plain zstd decoder, and carry no checksum; the encoder is
// used again for the next page.
func TestZstdCodec(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(zstdCodec); !ok {
		t.Fatalf("the registered zstd codec is %T", c)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	idle := func() int {
		encoders.Lock()
		defer encoders.Unlock()
		return len(encoders.idle[1])
	}
	c.EncodeLevel(nil, []byte("first"), 1)
	before := idle()
	for i, page := range [][]byte{bytes.Repeat([]byte(`{"plan":"pro","seats":12}`), 4000), []byte("x"), bytes.Repeat([]byte{7}, 1<<20)} {
		out := c.EncodeLevel(nil, page, 1)
		got, err := dec.DecodeAll(out, nil)
		if err != nil || !bytes.Equal(got, page) {
			t.Fatalf("page %d: decoded %d bytes (%v), want %d", i, len(got), err, len(page))
		}
		if back, err := compress.Decode(c, nil, out); err != nil || !bytes.Equal(back, page) {
			t.Fatalf("page %d: the codec's own decode: %v", i, err)
		}
		if fhd := out[4]; fhd&0x04 != 0 {
			t.Fatalf("page %d: frame has a checksum", i)
		}
	}
	if n := idle(); n != before || n == 0 {
		t.Fatalf("%d idle encoders after three pages, %d before: want the same one used for each", n, before)
	}
}
