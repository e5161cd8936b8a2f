package userlot

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"etl/extract/extracttest"
	"etl/internal/emulator/people"
	"etl/internal/emulator/userlot"
)

var seeds = []string{
	`{"id":"c","email":"UL@Example.com","external_id":" E-1 ","source_external_id":123,"total_revenue":1187.50,"nps_score":10,"is_trial":true,"signup_channel":null,"plan":{"b":[1,{"d":1,"c":2}],"a":"<x>"},"last_seen_at":"2024-01-01T00:00:00Z","created_at":"2024-01-05T09:10:01.000+01:00","updated_at":"2024-01-08T07:10:01.000+01:00"}`,
	`{"id":"n","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}`, `{"id":"c","ID":"other","Email":"x","Custom":1,"LAST_SEEN_AT":2}`,
	`{"id":"d","x":1,"x":2,"y":null,"z":1,"z":null}`, `{"id":"d","email":"a","email":"b"}`, `{"id":"b","n":1e400,"m":-0.0,"o":0.1e-10}`,
	`{"id":"t","created_at":"bad"}`, `{"id":null,"email":"x"}`, `{"id":"e","k\u00e9y":"\u00e9","\u2028":"line","a\"b":"q"}`,
	`{"id":"o","first_name":{"a":1}}`, `[1]`, `{"id":"s","source_external_id":""}`, `{"id":"l","last_seen_at":{"x":[1]},"last_seen_at":1}`,
	`{"id":5,"source_external_id":"s","source_external_id":"t"}`, `{"id":"x"} `, `{"id":"x",}`,
}

// FuzzDecode: any record decodes to a row with an id or is an error (a
// reject with its reason), never a panic; and Decoder (one pass) answers
// exactly as Decode (encoding/json), attributes byte for byte. Seeds:
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, err := Decode(raw)
		if err == nil && u.SourceID == "" {
			t.Fatalf("decoded a row without an id from %q", raw)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("an error without a reason for %q", raw)
		}
		var d Decoder
		got, gerr := d.Decode(string(raw))
		if fmt.Sprint(gerr) != fmt.Sprint(err) || !reflect.DeepEqual(got, u) {
			t.Fatalf("%q:\n one pass: %+v %v\n encoding/json: %+v %v", raw, got, gerr, u, err)
		}
		// In a page, decoded in place: as the page read whole first.
		extracttest.SamePage(t, "["+string(raw)+"]", "", &Decoder{})
		extracttest.SamePage(t, "[ "+string(raw)+"\n, "+string(raw)+" ]", "", &Decoder{})
	})
}

// The one pass decodes the emulator's end users itself, without Decode.
func TestDecoderTakesOrdinaryRecords(t *testing.T) {
	var d Decoder
	for _, u := range userlot.FromPeople(people.GenerateHard(3, 200), 0) {
		raw, _ := json.Marshal(u)
		if _, ok := d.fast(string(raw)); !ok {
			t.Fatalf("left to encoding/json: %s", raw)
		}
	}
}
