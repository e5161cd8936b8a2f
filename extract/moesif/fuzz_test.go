package moesif

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
)

var seeds = []string{
	`{"user_id":" ms-spaced ","email":"","name":"","first_name":"","last_name":"","phone":"","modified_time":"2024-04-10T00:00:00.000","metadata":{"email":"Meta@Example.com","phone":4520123456,"first_name":"F","last_name":"L","name":"","z":{"b":1,"a":2},"n":12345678901234567890,"f":1.50}}`,
	`{"user_id":"t","email":" Top@Example.com ","name":"Top Name","phone":"+4520999999","metadata":{"email":"m","name":"Meta","phone":"+4520888888"}}`,
	`{"user_id":"mt","metadata":{"email":true,"phone":{"a":1},"first_name":null,"last_name":["x"]}}`, `{"user_id":"x","metadata":"x"}`,
	`{"user_id":"mn","metadata":null,"first_seen_time":"1700000000","modified_time":"2024-01-01 00:00:00"}`, `{"user_id":"","email":"x"}`,
	`{"user_id":42,"company_id":7}`, `{"user_id":"c","User_Id":"other","Metadata":{"a":1}}`, `{"user_id":"d","metadata":{"email":"a","email":"b","email":{}}}`,
	`{"user_id":"e","metadata":{"k\u00e9y":"v\u2029","\/":"\/"}}`, `{"user_id":"t","modified_time":"never"}`, `{"metadata":{}}`,
	`{"user_id":"m","metadata":{},"metadata":{"a":1}}`, `{"user_id":"w","first_name":"  ","metadata":{"first_name":-0.5e3}}`, `nonsense`, `{"user_id":"x"}y`,
}

// FuzzDecode: any record decodes to a row with an id or is an error (a
// reject with its reason), never a panic; and Decoder (one pass) answers
// exactly as Decode (encoding/json), attributes byte for byte, with or
// without a hit's _id. Seeds: testdata/fuzz/FuzzDecode.
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
		for _, hitID := range []string{"", "hit-7"} {
			want, werr := decode(raw, hitID)
			got, gerr := d.decode(string(raw), hitID)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q (hit %q):\n one pass: %+v %v\n encoding/json: %+v %v", raw, hitID, got, gerr, want, werr)
			}
		}
		// In a page, decoded in place: as hit by hit.
		samePage(t, `{"hits":{"hits":[{"_id":"hit-7","_source":`+string(raw)+`,"sort":[1]}, {"_source":`+string(raw)+`}],"total":2}}`)
	})
}

// The one pass decodes the emulator's users itself, without Decode.
func TestDecoderTakesOrdinaryRecords(t *testing.T) {
	var d Decoder
	for _, u := range moesif.FromPeople(people.GenerateHard(3, 200)) {
		raw, _ := json.Marshal(u)
		if _, ok := d.fast(string(raw), "x"); !ok {
			t.Fatalf("left to encoding/json: %s", raw)
		}
	}
}
