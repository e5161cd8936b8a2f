package planhat

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"etl/extract/extracttest"
	"etl/internal/emulator/people"
	phemu "etl/internal/emulator/planhat"
)

var seeds = []string{
	`{"_id":"ph-esc","email":"Esc\u00e9@Example.COM","firstName":"A\"b\\c\/d\n","lastName":"\ud83d\ude00\ud800x","tags":["b","a","b"," "],"custom":{"z":1,"a":{"y":[1,2.50,-0,1E2,0.000001,1e-7,123456789012345678901234],"x":"<&>\u2028"},"m":null,"dup":1,"dup":2,"\u00e9":"é","k\"q":true}}`,
	"{\"_id\":\"ph-utf8\",\"firstName\":\"Ad\xffa\",\"custom\":{\"k\xff\":\"v\xfe\"}}",
	`{"_id":12345,"externalId":987654321,"firstName":true,"lastName":null,"createDate":1700000000,"updatedAt":"1700000000123"}`,
	`{"_id":"c","Email":"case@example.com","FIRSTNAME":"Case","ſ":1,"_İd":2}`,
	`{"_id":"r","email":"one","email":"two","custom":{"a":1},"custom":{"b":2}}`,
	`{"_id":"a","archived":true}`, `{"_id":"a","archived":"true"}`, `{"_id":"n","custom":{"n":1e400}}`,
	`{"_id":"l","custom":[1,2]}`, `{"_id":"e","custom":{},"otherEmails":[],"tags":[]}`, `{"_id":"s","otherEmails":"x","tags":"solo"}`,
	`{"_id":"t","tags":[{"a":1}]}`, `{"_id":"t","createDate":"2024-01-02 03:04:05","updatedAt":"yesterday"}`,
	`{"_id":"   "}`, `{"_id":""}`, `{}`, `{"_id":"x"} x`, `{"_id": "x", "email": oops`, `["x"]`, `"x"`, `null`,
	` { "_id" : "ws" , "custom" : { "b" : 1 , "a" : [ ] } } `, `{"_id":"c","custom":{"c":"\u0001\u001f\t\r\b\f"},"firstName":"\u0000x"}`,
	`{"_id":"x","custom":null,"tags":null,"archived":null}`, `{"_\u0069d":"esc-key"}`,
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
	for _, u := range phemu.FromPeople(people.GenerateHard(3, 200), 0) {
		raw, _ := json.Marshal(u)
		if _, ok := d.fast(string(raw)); !ok {
			t.Fatalf("left to encoding/json: %s", raw)
		}
	}
}
