package dixa

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"etl/extract/extracttest"
	"etl/internal/emulator/dixa"
	"etl/internal/emulator/people"
)

var seeds = []string{
	`{"id":"dx-esc","email":"Esc\u00e9@Example.COM","displayName":" D\u00e9 ","phoneNumber":"20123456","additionalEmails":["X@Example.com","bad",""],"additionalPhoneNumbers":["+4520000000"],"middleNames":["M"],"avatarUrl":"http://a/<b>","customAttributes":[{"id":"1","name":"Plan","identifier":"plan","value":"pro"},{"id":"2","name":"Seats Name","value":["1","2"]},{"id":"3","identifier":"n","value":12.50},{"id":"4","identifier":"nil","value":null},{"id":"5","identifier":"plan","value":"team"},{"id":"6","identifier":"e","value":[]},{"id":"7","identifier":"avatarUrl","value":"masked"}]}`,
	`{"id":"o","customAttributes":[{"id":"1","identifier":"o","value":{"a":1}}]}`, `{"id":"nl","customAttributes":{"id":"1"}}`,
	`{"id":"ne","customAttributes":[null,{"identifier":"k","value":true},"x"]}`, `{"id":"c","Email":"x","customAttributes":[{"IDENTIFIER":"up","value":"v"}]}`,
	`{"id":"t","createdAt":"2024-01-02T10:43:21.000Z[GMT]"}`, `{"id":"t","createdAt":"soon"}`, `{"id":7}`, `{"email":"x"}`,
	`{"id":"d","customAttributes":[{"identifier":"a","value":"1"},{"identifier":"a","value":"2"},{"identifier":"a","value":""}]}`,
	`{"id":"v","customAttributes":[{"identifier":"a","value":[1,true,null,""]},{"name":"","identifier":"","value":"x"}]}`,
	`{"id":"r","customAttributes":[{"identifier":"a","value":"1","value":"2"}],"customAttributes":[]}`,
	`{"id":"m","middleNames":"solo","additionalPhoneNumbers":[],"avatarUrl":""}`, "{\"id\":\"u\",\"displayName\":\"\xc3\x28\"}",
	`{"id":"x","customAttributes":null}`, `{"id":"x",`, `[]`,
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
		extracttest.SamePage(t, `{"data":[`+string(raw)+`],"meta":{}}`, "data", &Decoder{})
		extracttest.SamePage(t, `{"meta":{},"data":[ `+string(raw)+"\n, "+string(raw)+` ]}`, "data", &Decoder{})
	})
}

// The one pass decodes the emulator's end users itself, without Decode.
func TestDecoderTakesOrdinaryRecords(t *testing.T) {
	var d Decoder
	for _, u := range dixa.FromPeople(people.GenerateHard(3, 200), 0) {
		raw, _ := json.Marshal(u)
		if _, ok := d.fast(string(raw)); !ok {
			t.Fatalf("left to encoding/json: %s", raw)
		}
	}
}
