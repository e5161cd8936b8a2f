package jsonscan

// Member is a key and a string value to add to an object.
type Member struct{ Key, Value string }

// AppendMembers appends to dst the canonical object obj ("" for none) with
// add's members in it, each replacing a member of the same key: what
// encoding the decoded object with those keys set gives. add must be
// sorted by key. ok is false when obj is not an object whose keys need no
// escaping; the caller then goes through encoding/json.
func AppendMembers(dst []byte, obj string, add []Member) ([]byte, bool) {
	var sc Scanner
	sc.Reset(obj)
	out := append(dst, '{')
	n := 0
	put := func(key, value string, str bool) {
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = AppendString(out, key)
		out = append(out, ':')
		if str {
			out = AppendString(out, value)
		} else {
			out = append(out, value...)
		}
	}
	if obj != "" {
		prev := ""
		if !sc.Object() {
			return dst, false
		}
		for first := true; ; first = false {
			key, plain, ok := sc.Member(first)
			if !ok {
				break
			}
			raw, ok := sc.Raw()
			if !ok || !plain || !first && key <= prev {
				return dst, false // not canonical
			}
			prev = key
			for len(add) > 0 && add[0].Key < key {
				put(add[0].Key, add[0].Value, true)
				add = add[1:]
			}
			if len(add) > 0 && add[0].Key == key {
				continue // replaced by the member added
			}
			put(key, raw, false)
		}
		if !sc.End() {
			return dst, false
		}
	}
	for _, m := range add {
		put(m.Key, m.Value, true)
	}
	return append(out, '}'), true
}
