package device

import (
	"errors"
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"?", "", false},
		{"?", "a", true},
		{"?", "é", true}, // one character, two bytes
		{"??", "é", false},
		{"a*", "apple", true},
		{"*e", "apple", true},
		{"a*e", "apple", true},
		{"a*e", "applf", false},
		{"*pl*", "apple", true},
		{"a?ple", "apple", true},
		{"a?ple", "aple", false},
		{"a**e", "ae", true},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"*é*", "caféx", true},
		{"apple-iphone*/*", "apple-iphone15c2/2104.1", true},
		{"apple-iphone*/*", "apple-iphone15c2", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pat, []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  ApplF17 ", "applf17"},
		{"İSTANBUL", "istanbul"},
		{"ÅNGSTRÖM", "ångström"},
		{"\u212A", "k"}, // Kelvin sign
		{"a\xffB", "a\xffb"},
	}
	tests = append(tests, struct{ in, want string }{"AbC-Ä-dEF-\xff-GH", "abc-ä-def-\xff-gh"})
	for _, tc := range tests {
		if got := Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// The stack-buffer path gives the same key.
		var buf [foldBufLen]byte
		if got := string(fold(buf[:0], tc.in)); got != tc.want {
			t.Errorf("fold(%q) into a buffer = %q, want %q", tc.in, got, tc.want)
		}
		prefixed := fold(append(buf[:0], "x "...), tc.in)
		if got := string(prefixed); got != "x "+tc.want {
			t.Errorf("fold(%q) after a prefix = %q", tc.in, got)
		}
	}
	if Fold("\xfe") == Fold("\xff") {
		t.Error("different invalid bytes fold to one key")
	}
}

func TestUserMatch(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"jane", "JANE", true},
		{`CONTOSO\jane`, `contoso\Jane`, true},
		{`CONTOSO\jane`, "jane@contoso.com", true},
		{`CONTOSO\jane`, "jane", true},
		{"jane@contoso.com", "jane", true},
		{"jane@contoso.com", "jane@fabrikam.com", false},
		{`CONTOSO\jane`, `FABRIKAM\jane`, false},
		{"jane", "bob", false},
		{`CONTOSO\jane`, "bob@contoso.com", false},
		{"", "", true},
		{"", "jane", false},
		{`CONTOSO\`, "@contoso.com", false},
	}
	for _, tc := range tests {
		var b1, b2 [foldBufLen]byte
		a := makeUserKey(b1[:0], tc.a)
		b := makeUserKey(b2[:0], tc.b)
		if got := userMatch(a, b); got != tc.want {
			t.Errorf("userMatch(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := userMatch(b, a); got != tc.want {
			t.Errorf("userMatch(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, s := range []string{"allow", "Block", " QUARANTINE "} {
		a, err := ParseAction(s)
		if err != nil || !a.Valid() {
			t.Errorf("ParseAction(%q) = %v, %v", s, a, err)
		}
		var b Action
		if err := b.UnmarshalText([]byte(s)); err != nil || b != a {
			t.Errorf("UnmarshalText(%q) = %v, %v", s, b, err)
		}
		txt, _ := a.MarshalText()
		if back, _ := ParseAction(string(txt)); back != a {
			t.Errorf("action %v does not round-trip through %q", a, txt)
		}
	}
	if _, err := ParseAction("permit"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("ParseAction(permit) = %v", err)
	}

	for s, want := range map[string]Override{"": OverrideDefault, "Whitelist": OverrideWhitelist, "allow": OverrideWhitelist, "blacklist": OverrideBlacklist, "block": OverrideBlacklist, "quarantine": OverrideQuarantine} {
		var o Override
		if err := o.UnmarshalText([]byte(s)); err != nil || o != want {
			t.Errorf("Override.UnmarshalText(%q) = %v, %v; want %v", s, o, err, want)
		}
	}
	if _, err := ParseOverride("maybe"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("ParseOverride(maybe) = %v", err)
	}

	for s, want := range map[string]Fact{"": Unreported, "yes": Yes, "TRUE": Yes, "no": No, "false": No} {
		var f Fact
		if err := f.UnmarshalText([]byte(s)); err != nil || f != want {
			t.Errorf("Fact.UnmarshalText(%q) = %v, %v; want %v", s, f, err, want)
		}
	}
	var f Fact
	if err := f.UnmarshalText([]byte("perhaps")); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Fact.UnmarshalText(perhaps) = %v", err)
	}
	if FactOf(true) != Yes || FactOf(false) != No || Unreported.Reported() || !No.Reported() {
		t.Error("FactOf/Reported")
	}

	for _, c := range []Characteristic{DeviceType, DeviceModel, DeviceOS, UserAgent} {
		txt, _ := c.MarshalText()
		var back Characteristic
		if err := back.UnmarshalText(txt); err != nil || back != c {
			t.Errorf("characteristic %v does not round-trip: %v, %v", c, back, err)
		}
	}
	if _, err := ParseCharacteristic("XMSWLHeader"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("ParseCharacteristic(XMSWLHeader) = %v", err)
	}
}

func TestMatchExported(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"*", "", true}, {"a", "", false}, {"", "a", false},
		{"boxer", "boxer", true}, {"boxer", "boxers", false},
		{"box*", "boxer", true}, {"*er", "boxer", true}, {"b*x*r", "boxer", true}, {"b*x*z", "boxer", false},
		{"b?xer", "boxer", true}, {"b?xer", "bxer", false}, {"caf?", "café", true}, {"a*a*a*b", strings.Repeat("a", 200), false},
		{"BOX*", "boxer", true}, {" boxer ", "Boxer", true},
	} {
		if got := Match(tc.p, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}
