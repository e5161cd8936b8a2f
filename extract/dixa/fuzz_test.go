package dixa

import "testing"

// FuzzDecode: any record decodes to a row with an id or is an error (a
// reject with its reason), never a panic. Seeds: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, err := Decode(raw)
		if err == nil && u.SourceID == "" {
			t.Fatalf("decoded a row without an id from %q", raw)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("an error without a reason for %q", raw)
		}
	})
}
