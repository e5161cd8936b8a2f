package files

import (
	"fmt"
	"reflect"
	"testing"
)

var canonicalSeeds = []string{
	`{"source_id":"cn-text","email":"Text@Example.com","emails":"one@example.com","tags":"t","attributes":"{\"b\":1,\"a\":{\"d\":[1,2],\"c\":\"<\"}}","person_id":"ignored","source":"ignored"}`,
	`{"source_id":"o","attributes":{"z":1.50,"a":null,"m":{"y":true,"x":false}},"created_at":"2024-01-02T03:04:05.999999999Z","updated_at":1735787045}`,
	`{"source_id":"n","attributes":"[1,2]"}`, `{"source_id":"b","attributes":"{\"a\":"}`, `{"source_id":"t","attributes":"{\"a\":1} junk"}`,
	`{"source_id":"n","attributes":null,"emails":null}`, `{"source_id":"e","attributes":"  ","tags":["b","a"]}`, `{"source_id":"l","attributes":[1]}`,
	`{"source_id":"t","created_at":"2024-13-45"}`, `{"email":"x"}`, `{"source_id":"c","EMAIL":"x","Attributes":{"a":1}}`,
	`{"source_id":"s","attributes":" {\"a\":1} "}`, `{"source_id":"s","attributes":"null"}`, `{"source_id":"s","attributes":{}}`,
	`{"source_id":"s","attributes":"\u00a0{\"a\":1}"}`, `{"source_id":"d","email":"a","email":"b"}`, `{"source_id":7,"emails":[1,null,"a"]}`,
}

// FuzzCanonicalDecoder: the one pass decodes a canonical record exactly as
// decodeCanonical (encoding/json) does, attributes byte for byte.
// Seeds: testdata/fuzz/FuzzCanonicalDecoder.
func FuzzCanonicalDecoder(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, _, werr := decodeCanonical([]byte(raw))
		var d canonicalDecoder
		got, _, gerr := d.decode(raw)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || (werr == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("%q:\n one pass: %+v %v\n encoding/json: %+v %v", raw, got, gerr, want, werr)
		}
	})
}

func TestCanonicalDecoderTakesOrdinaryRecords(t *testing.T) {
	var d canonicalDecoder
	for _, s := range canonicalSeeds[:2] {
		if _, ok := d.fast(s); !ok {
			t.Fatalf("left to encoding/json: %s", s)
		}
	}
}
