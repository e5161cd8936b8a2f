package normalise

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"etl/internal/emulator/people"
)

// oraclePhone is Phone with phonenumbers deciding every number: what Phone
// must answer.
func oraclePhone(raw, region string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	r := strings.ToUpper(region)
	if strings.HasPrefix(raw, "+") {
		r = ""
	} else if r == "" {
		return "", false
	}
	return slowPhone(raw, r)
}

// checkPhone fails unless Phone answers as phonenumbers does; it reports
// whether the fast path decided.
func checkPhone(t *testing.T, raw, region string) bool {
	t.Helper()
	got, ok := Phone(raw, region)
	want, wok := oraclePhone(raw, region)
	if got != want || ok != wok {
		t.Fatalf("Phone(%q, %q) = %q, %v; phonenumbers says %q, %v", raw, region, got, ok, want, wok)
	}
	s := strings.TrimSpace(raw)
	r := strings.ToUpper(region)
	if strings.HasPrefix(s, "+") {
		r = ""
	}
	if s == "" || r == "" && !strings.HasPrefix(s, "+") {
		return false
	}
	_, _, decided := fastPhone(s, r)
	return decided
}

var numberTypes = []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
	phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
	phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}

// variants are the forms a number is written in, valid and near misses.
func variants(num *phonenumbers.PhoneNumber) []string {
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	out := []string{e164, phonenumbers.Format(num, phonenumbers.INTERNATIONAL), phonenumbers.Format(num, phonenumbers.NATIONAL),
		phonenumbers.Format(num, phonenumbers.RFC3966), " " + e164 + " ", strings.ReplaceAll(e164, "+", "00")}
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	cc := fmt.Sprint(num.GetCountryCode())
	for d := '0'; d <= '9'; d++ {
		out = append(out, "+"+cc+nsn+string(d), "+"+cc+nsn[:len(nsn)-1]+string(d), "+"+cc+string(d)+nsn[1:], nsn+string(d), string(d)+nsn)
	}
	out = append(out, "+"+cc+nsn[:len(nsn)-1], "+"+cc+"0"+nsn, "0"+nsn, cc+nsn, "+"+cc+"-"+nsn, "+("+cc+") "+nsn, nsn[:2]+" "+nsn[2:])
	return out
}

// Every region's example number of every type, in every format and with
// near misses, read with no region, its own and others: the same answers
// as phonenumbers, most of them decided without it.
func TestPhoneMatchesPhonenumbersOnExamples(t *testing.T) {
	regions := slices.Sorted(func(yield func(string) bool) {
		for r := range phonenumbers.GetSupportedRegions() {
			if !yield(r) {
				return
			}
		}
	})
	var nums []*phonenumbers.PhoneNumber
	for _, r := range regions {
		for _, typ := range numberTypes {
			if n := phonenumbers.GetExampleNumberForType(r, typ); n != nil {
				nums = append(nums, n)
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
			nums = append(nums, n)
		}
	}
	if len(nums) < 1000 {
		t.Fatalf("only %d example numbers", len(nums))
	}
	checked, fast, valid := 0, 0, 0
	for _, n := range nums {
		own := phonenumbers.GetRegionCodeForNumber(n)
		for _, s := range variants(n) {
			for _, r := range []string{"", own, "DE", "ZZ"} {
				checked++
				if checkPhone(t, s, r) {
					fast++
				}
				if _, ok := Phone(s, r); ok {
					valid++
				}
			}
		}
	}
	t.Logf("%d numbers checked (%d valid), %d decided by the fast path", checked, valid, fast)
	if fast < checked/2 || valid < checked/10 {
		t.Fatalf("fast path decided %d of %d (%d valid): it should decide most", fast, checked, valid)
	}
}

// The generated people's phones, and the forms vendors send them in.
func TestPhoneMatchesPhonenumbersOnPeople(t *testing.T) {
	for _, p := range people.Generate(7, 2000) {
		n := strings.TrimPrefix(p.Phone, "+45")
		for _, s := range []string{p.Phone, n, n[:2] + " " + n[2:4] + " " + n[4:6] + " " + n[6:], "0045" + n, "+45 " + n} {
			for _, r := range []string{"", "DK", "SE"} {
				checkPhone(t, s, r)
			}
		}
	}
}

// The cache answers as Phone does, first time and after.
func TestPhoneCache(t *testing.T) {
	c := phoneCache{region: "DK"}
	for range 2 {
		for _, s := range []string{"+4520123456", "20 12 34 56", "12", "+1 201 555 0123", "not a phone"} {
			e, ok := c.phone(s)
			we, wok := Phone(s, "DK")
			if e != we || ok != wok {
				t.Fatalf("cache: %q → %q %v, want %q %v", s, e, ok, we, wok)
			}
		}
	}
}

func BenchmarkPhone(b *testing.B) {
	nums := make([]string, 1000)
	for i := range nums {
		nums[i] = fmt.Sprintf("+4520%06d", 100000+i*7)
	}
	b.Run("fast", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			Phone(nums[i%len(nums)], "")
		}
	})
	b.Run("phonenumbers", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			slowPhone(nums[i%len(nums)], "")
		}
	})
}

// BenchmarkFirstPhone: a run's first phone, which compiles what it needs
// of the metadata (`go test -run '^$' -bench FirstPhone ./transform/normalise/`).
func BenchmarkFirstPhone(b *testing.B) {
	for b.Loop() {
		phoneRules.once = sync.Once{}
		phoneRules.byCC = [len(phoneRules.byCC)]*lazyCC{}
		if _, ok := Phone("+4520123456", ""); !ok {
			b.Fatal("refused")
		}
	}
}
