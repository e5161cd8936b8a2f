package planhat

import (
	"encoding/json"
	"testing"

	gojson "github.com/goccy/go-json"

	"etl/internal/emulator/people"
	phemu "etl/internal/emulator/planhat"
)

// The JSON decoders considered for vendor records, on Planhat end users as
// the emulator renders them (make bench quotes the figures):
// `go test -run '^$' -bench Decoders ./extract/planhat/`.
func BenchmarkDecoders(b *testing.B) {
	users := phemu.FromPeople(people.Generate(1, 1000), 0)
	raws := make([][]byte, len(users))
	var bytes int64
	for i, u := range users {
		raws[i], _ = json.Marshal(u)
		bytes += int64(len(raws[i]))
	}
	for _, c := range []struct {
		name   string
		decode func([]byte, *wire) error
	}{
		{"encoding-json", func(b []byte, w *wire) error { return json.Unmarshal(b, w) }},
		{"goccy-go-json", func(b []byte, w *wire) error { return gojson.Unmarshal(b, w) }},
		{"encoding-json-valid+goccy", func(b []byte, w *wire) error {
			if !json.Valid(b) {
				return json.Unmarshal(b, w)
			}
			return gojson.Unmarshal(b, w)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(bytes / int64(len(raws)))
			for i := 0; b.Loop(); i++ {
				var w wire
				if err := c.decode(raws[i%len(raws)], &w); err != nil || w.ID == "" {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(bytes / int64(len(raws)))
		for i := 0; b.Loop(); i++ {
			if _, err := Decode(raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
