package planhat

import (
	"encoding/json"
	"io"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	gojson "github.com/goccy/go-json"

	"etl/internal/emulator/people"
	phemu "etl/internal/emulator/planhat"
	"etl/internal/jsonscan"
)

// The JSON decoders considered for vendor records, on Planhat end users as
// the emulator renders them (make bench quotes the figures):
// `go test -run '^$' -bench Decoders -benchmem ./extract/planhat/`.
//
//   - encoding-json/wire, goccy/wire, json-v2/wire: json.Unmarshal into the
//     wire struct, the decoding part of Decode, each library's own way
//     (goccy and v2 accept and word errors their way, v2 matches keys with
//     case and refuses repeated keys);
//   - encoding-json-valid+goccy/wire: goccy behind encoding/json's own
//     validation, to keep encoding/json's accept/reject;
//   - jsontext/tokens, jsonscan/skip: reading every token, validating,
//     nothing built (the tokenizers alone);
//   - encoding-json/Decode, jsonscan/Decoder: the whole decode of a record
//     into its row, custom fields into canonical JSON (Decode, the old
//     path; Decoder, the one pass, which is what runs).
func BenchmarkDecoders(b *testing.B) {
	users := phemu.FromPeople(people.Generate(1, 1000), 0)
	raws := make([][]byte, len(users))
	strs := make([]string, len(users))
	var size int64
	for i, u := range users {
		raws[i], _ = json.Marshal(u)
		strs[i] = string(raws[i])
		size += int64(len(raws[i]))
	}
	unmarshal := func(name string, decode func([]byte, *wire) error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size / int64(len(raws)))
			for i := 0; b.Loop(); i++ {
				var w wire
				if err := decode(raws[i%len(raws)], &w); err != nil || w.ID == "" {
					b.Fatal(err)
				}
			}
		})
	}
	unmarshal("encoding-json/wire", func(b []byte, w *wire) error { return json.Unmarshal(b, w) })
	unmarshal("goccy/wire", func(b []byte, w *wire) error { return gojson.Unmarshal(b, w) })
	unmarshal("encoding-json-valid+goccy/wire", func(b []byte, w *wire) error {
		if !json.Valid(b) {
			return json.Unmarshal(b, w)
		}
		return gojson.Unmarshal(b, w)
	})
	unmarshal("json-v2/wire", func(b []byte, w *wire) error { return jsonv2.Unmarshal(b, w) })
	b.Run("jsontext/tokens", func(b *testing.B) {
		b.SetBytes(size / int64(len(raws)))
		var dec jsontext.Decoder
		for i := 0; b.Loop(); i++ {
			dec.Reset(bytesReader(raws[i%len(raws)]))
			for {
				if _, err := dec.ReadToken(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("jsonscan/skip", func(b *testing.B) {
		b.SetBytes(size / int64(len(raws)))
		var sc jsonscan.Scanner
		for i := 0; b.Loop(); i++ {
			sc.Reset(strs[i%len(strs)])
			if !sc.Skip() || !sc.End() {
				b.Fatal("refused")
			}
		}
	})
	b.Run("encoding-json/Decode", func(b *testing.B) {
		b.SetBytes(size / int64(len(raws)))
		for i := 0; b.Loop(); i++ {
			if _, err := Decode(raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonscan/Decoder", func(b *testing.B) {
		b.SetBytes(size / int64(len(raws)))
		var d Decoder
		for i := 0; b.Loop(); i++ {
			if _, err := d.Decode(strs[i%len(strs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type byteReader struct {
	b []byte
	i int
}

func bytesReader(b []byte) *byteReader { return &byteReader{b: b} }

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}
