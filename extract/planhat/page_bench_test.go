package planhat

import (
	"encoding/json"
	"strings"
	"testing"

	"etl/extract"
	"etl/internal/emulator/people"
	phemu "etl/internal/emulator/planhat"
)

// BenchmarkPage reads a page of 2,000 end users as the emulator renders
// it, per record: the page cut into records by its structure, then each
// decoded by its text (whole-first), against each decoded in place as the
// page is read (in-place, what the extractor does):
// `go test -run '^$' -bench Page -benchmem ./extract/planhat/`.
func BenchmarkPage(b *testing.B) {
	body, _ := json.Marshal(phemu.FromPeople(people.Generate(1, 2000), 0))
	b.Run("whole-first", func(b *testing.B) {
		var p extract.Page
		var d Decoder
		for b.Loop() {
			if err := p.DecodeArray(strings.NewReader(string(body))); err != nil {
				b.Fatal(err)
			}
			for _, raw := range p.Items {
				if _, err := d.Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000), "ns/record")
	})
	b.Run("in-place", func(b *testing.B) {
		var p extract.Page
		var d Decoder
		var recs []extract.Record[User]
		for b.Loop() {
			var err error
			if recs, err = extract.DecodeRecords(&p, strings.NewReader(string(body)), "", nil, &d, recs); err != nil || len(recs) != 2000 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000), "ns/record")
	})
}
