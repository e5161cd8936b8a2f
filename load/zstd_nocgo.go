//go:build !cgo

package load

import (
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// pageEncoder is klauspost/compress's encoder, for builds without cgo.
type pageEncoder struct{ enc *zstd.Encoder }

func newPageEncoder(level int) *pageEncoder {
	lvl := zstd.EncoderLevelFromZstd(level)
	if level == compress.DefaultCompressionLevel {
		lvl = zstd.SpeedDefault
	}
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false), zstd.WithAllLitEntropyCompression(true))
	return &pageEncoder{enc}
}

func (e *pageEncoder) encode(dst, src []byte) []byte { return e.enc.EncodeAll(src, dst[:0]) }
