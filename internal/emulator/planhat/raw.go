package planhat

import (
	"bytes"
	"encoding/json"
)

// InsertRaw adds records listed exactly as given, after every other user:
// for tests that feed clients what EndUser cannot express (repeated ids,
// wrong types, invalid UTF-8). They are not in Users and cannot be written.
func (e *Emulator) InsertRaw(records ...json.RawMessage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.raw = append(e.raw, records...)
}

// appendRaw adds raw records to a marshalled page, joined by hand:
// json.Marshal would check and rewrite them.
func appendRaw(page []byte, raw []json.RawMessage) []byte {
	if len(raw) == 0 {
		return page
	}
	out := bytes.TrimSuffix(page, []byte("]"))
	if len(out) > 1 {
		out = append(out, ',')
	}
	for i, r := range raw {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return append(out, ']')
}
