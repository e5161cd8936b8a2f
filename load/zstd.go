package load

import (
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
)

// zstdCodec replaces arrow-go's zstd codec for writing Parquet pages, with
// the same format. Pages are compressed by libzstd where the build has cgo
// (zstd_cgo.go: 40% less time than klauspost/compress at level 1, for
// tables 1.3% larger), by klauspost/compress without
// it. Either way the encoders are kept from page to page (arrow-go keeps
// them in a sync.Pool, which every garbage collection empties, so that a
// run allocated and cleared a new encoder's tables again and again), and
// frames carry no checksum, as libzstd writes them by default (Parquet
// pages are checked by their sizes; readers verify a checksum only when
// there is one). Decoding is arrow-go's.
type zstdCodec struct {
	compress.Codec // arrow-go's, for everything but encoding
}

func init() {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		panic(err)
	}
	compress.RegisterCodec(compress.Codecs.Zstd, zstdCodec{c})
}

// encoders are the idle page encoders, by level; at most a few are ever in
// use at once (one per part file being written).
var encoders = struct {
	sync.Mutex
	idle map[int][]*pageEncoder
}{idle: map[int][]*pageEncoder{}}

const maxIdleEncoders = 8

func (zstdCodec) EncodeLevel(dst, src []byte, level int) []byte {
	encoders.Lock()
	var enc *pageEncoder
	if idle := encoders.idle[level]; len(idle) > 0 {
		enc = idle[len(idle)-1]
		encoders.idle[level] = idle[:len(idle)-1]
	}
	encoders.Unlock()
	if enc == nil {
		enc = newPageEncoder(level)
	}
	out := enc.encode(dst, src)
	encoders.Lock()
	if len(encoders.idle[level]) < maxIdleEncoders {
		encoders.idle[level] = append(encoders.idle[level], enc)
	}
	encoders.Unlock()
	return out
}

func (c zstdCodec) Encode(dst, src []byte) []byte {
	return c.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (c zstdCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	return compress.Decode(c.Codec, dst, src)
}

func (c zstdCodec) NewReader(r io.Reader) io.ReadCloser {
	return c.Codec.(compress.StreamingCodec).NewReader(r)
}

func (c zstdCodec) NewWriter(w io.Writer) io.WriteCloser {
	return c.Codec.(compress.StreamingCodec).NewWriter(w)
}

func (c zstdCodec) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return c.Codec.(compress.StreamingCodec).NewWriterLevel(w, level)
}
