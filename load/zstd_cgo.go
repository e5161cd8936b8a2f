//go:build cgo

package load

import (
	"fmt"

	ddzstd "github.com/DataDog/zstd"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// pageEncoder is a libzstd compression context (DataDog/zstd bundles the
// library's sources), used by one page at a time.
type pageEncoder struct {
	ctx   ddzstd.Ctx
	level int
}

func newPageEncoder(level int) *pageEncoder {
	if level == compress.DefaultCompressionLevel {
		level = ddzstd.DefaultCompression
	}
	return &pageEncoder{ctx: ddzstd.NewCtx(), level: level}
}

// encode compresses src into dst's room (arrow-go gives it the bound).
func (e *pageEncoder) encode(dst, src []byte) []byte {
	out, err := e.ctx.CompressLevel(dst[:cap(dst)], src, e.level)
	if err != nil {
		// Only a level out of range or no memory for the context get here.
		panic(fmt.Sprintf("zstd: compressing a %d-byte page at level %d: %v", len(src), e.level, err))
	}
	return out
}
