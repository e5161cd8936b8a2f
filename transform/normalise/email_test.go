package normalise

import (
	"regexp"
	"testing"
)

// emailRE is the contract's pattern, which validEmail implements.
var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

func TestValidEmailIsThePattern(t *testing.T) {
	for _, s := range []string{
		"", "a@b.c", "a@b.", "a@.c", "@b.c", "a@b", "a@@b.c", "a@b@c.d", "a.b@c", "a@b.c.", "a@.b.c", "a@b..c",
		"a b@c.d", "a@b.c d", "a\t@b.c", "a@b.c\n", "a@b.c\f", "a@b\r.c", "a\v@b.c", "a@b\u00a0.c",
		"é@ü.ß", "\xff@\xfe.\xfd", "a@\xe2\x80\xa8.c", "ada.lovelace@example.com", "a@b.cc", "a@bb.c", "..@..."} {
		if got, want := validEmail(s), emailRE.MatchString(s); got != want {
			t.Errorf("validEmail(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
