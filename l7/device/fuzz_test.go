package device

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzGlob checks the wildcard matcher against the regexp package: '*' is
// (?s).*, '?' is (?s)., anything else is literal.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"apple-*", "Apple-iPhone15C2/2104.1"},
		{"*a*a*b", "aaaaaaaaaaaaaaaa"},
		{"?é?", "xéy"},
		{"a?c*", "abc"},
		{"**", ""},
		{"*\n", "x\n"},
		{"İ*", "i̇x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > maxPatternLen || len(s) > 1024 {
			return
		}
		fp, fs := foldString(pat), fold(nil, s)
		var buf [foldBufLen]byte
		if fast := fold(buf[:0], s); string(fast) != string(fs) {
			t.Fatalf("fold(%q) into a buffer = %q, into nil = %q", s, fast, fs)
		}
		got := globMatch(fp, fs)
		// The regexp package reads invalid UTF-8 as U+FFFD, which the
		// byte-wise matcher rightly does not; compare on valid text only.
		if !utf8.ValidString(fp) || !utf8.Valid(fs) || strings.ContainsRune(fp, utf8.RuneError) {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, r := range fp {
			switch r {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`\z`)
		want := regexp.MustCompile(re.String()).Match(fs)
		if got != want {
			t.Errorf("globMatch(%q, %q) = %v, regexp %s says %v", fp, fs, got, re.String(), want)
		}
	})
}

// FuzzParseOSVersion: parsing never panics, and a parsed version prints as
// a string that parses back to the same version.
func FuzzParseOSVersion(f *testing.F) {
	for _, s := range []string{"17.4.1", "14", "10.0.19045.3803", "v16", "17.4.1 (21E236)", "17.", "", "4294967296", "1.2.3.4.5.6.7"} {
		f.Add(s, "17")
	}
	f.Fuzz(func(t *testing.T, s, bound string) {
		v, err := ParseOSVersion(s)
		if err != nil {
			if !v.IsZero() {
				t.Errorf("ParseOSVersion(%q) failed but returned %v", s, v)
			}
			return
		}
		back, err := ParseOSVersion(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseOSVersion(%q) = %v, which parses back as %v, %v", s, v, back, err)
		}
		if v.Compare(v) != 0 || !v.AtLeast(v) || !v.AtMost(v) {
			t.Errorf("%v is not equal to itself", v)
		}
		b, err := ParseOSVersion(bound)
		if err != nil {
			return
		}
		if c := v.Compare(b); c != -b.Compare(v) {
			t.Errorf("Compare(%v, %v) = %d, reverse %d", v, b, c, b.Compare(v))
		}
		// A bound is at least as loose as the exact comparison.
		if v.Compare(b) >= 0 && !v.AtLeast(b) {
			t.Errorf("%v >= %v but not AtLeast", v, b)
		}
		if v.Compare(b) <= 0 && !v.AtMost(b) {
			t.Errorf("%v <= %v but not AtMost", v, b)
		}
	})
}

// FuzzDecide: any identity and record against a policy that uses every
// feature decides without panicking, with a known reason, symmetrically
// in user matching, and the same way twice.
func FuzzDecide(f *testing.F) {
	p, err := NewPolicy(Config{
		BlockedMailClients: []string{"Evil*", "bad-client/1.0"},
		AllowedMailClients: []string{"*"},
		BlockedUsers:       []string{"mallory", `EVIL\*`, "*@evil.example"},
		AllowedUsers:       []string{"*", "jane@contoso.com"},
		BlockedDeviceTypes: []string{"Bad?"},
		InactivityDays:     30,
		BlockCompromised:   true,
		BlockUnencrypted:   true,
		AllowedModels:      []ModelRule{{"Apple", "iPhone*"}, {"Android", "*"}},
		AllowedOS:          []OSRule{{Platform: "Apple", Min: "16", Max: "17"}, {Platform: "*", Min: "1"}},
		Rules: []ABQRule{
			{Characteristic: DeviceOS, Query: "*beta*", Access: Quarantine},
			{Characteristic: DeviceModel, Query: "?", Access: Block},
			{Characteristic: UserAgent, Query: "*/9*", Access: Allow},
		},
		DefaultAccess: Quarantine,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`CONTOSO\jane`, "jane@contoso.com", "iPhone", "Apple-iPhone15C2/2104.1", "Apple", "iPhone 15", "17.4.1", uint8(0x0f))
	f.Add("mallory", "", "Bad1", "Evil/1", "Android", "", "beta", uint8(0))
	f.Add("é\xff", "É\xff", "", "", "", "", "", uint8(0xff))
	f.Fuzz(func(t *testing.T, user, recUser, dtype, ua, platform, model, osv string, bits uint8) {
		id := Identity{User: user, DeviceID: "d", DeviceType: dtype, UserAgent: ua, DeviceOS: osv}
		rec := &Record{
			DeviceID: "d", User: recUser, Managed: bits&1 != 0,
			Compromised: Fact(bits >> 1 % 3), Encrypted: Fact(bits >> 3 % 3),
			Platform: platform, Model: model, OSVersion: osv, EASProfile: bits&0x20 != 0,
			Override: Override(bits >> 6), LastCheckIn: testNow.Add(-day * 30),
		}
		d := Decide(id, rec, p, testNow)
		if !d.Reason.Known() || !d.Action.Valid() || d.Intended != d.Action {
			t.Fatalf("Decide = %+v", d)
		}
		if d2 := Decide(id, rec, p, testNow); d2 != d {
			t.Fatalf("Decide is not deterministic: %+v then %+v", d, d2)
		}
		var b1, b2 [foldBufLen]byte
		a, b := makeUserKey(b1[:0], user), makeUserKey(b2[:0], recUser)
		if userMatch(a, b) != userMatch(b, a) {
			t.Fatalf("userMatch(%q, %q) is not symmetric", user, recUser)
		}
	})
}
