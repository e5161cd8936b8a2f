package load

import (
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdCodec replaces arrow-go's zstd codec for writing Parquet pages, with
// the same format: its encoders are kept from page to page (arrow-go keeps
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

// encoders are the idle encoders, by level; at most a few are ever in use
// at once (one per part file being written).
var encoders = struct {
	sync.Mutex
	idle map[zstd.EncoderLevel][]*zstd.Encoder
}{idle: map[zstd.EncoderLevel][]*zstd.Encoder{}}

const maxIdleEncoders = 8

func (zstdCodec) EncodeLevel(dst, src []byte, level int) []byte {
	lvl := zstd.EncoderLevelFromZstd(level)
	if level == compress.DefaultCompressionLevel {
		lvl = zstd.SpeedDefault
	}
	encoders.Lock()
	var enc *zstd.Encoder
	if idle := encoders.idle[lvl]; len(idle) > 0 {
		enc = idle[len(idle)-1]
		encoders.idle[lvl] = idle[:len(idle)-1]
	}
	encoders.Unlock()
	if enc == nil {
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false), zstd.WithAllLitEntropyCompression(true))
	}
	out := enc.EncodeAll(src, dst[:0])
	encoders.Lock()
	if len(encoders.idle[lvl]) < maxIdleEncoders {
		encoders.idle[lvl] = append(encoders.idle[lvl], enc)
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
