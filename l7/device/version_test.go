package device

import (
	"errors"
	"testing"
)

func TestParseOSVersion(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for an error
	}{
		{"17.4.1", "17.4.1"},
		{"14", "14"},
		{"10.0.19045", "10.0.19045"},
		{"10.0.19045.3803", "10.0.19045.3803"},
		{" 17.4 ", "17.4"},
		{"v16.1", "16.1"},
		{"V16", "16"},
		{"017.04", "17.4"},
		{"17.4.1 (21E236)", "17.4.1"},
		{"13-beta", "13"},
		{"17.4b2", "17.4"},
		{"1.2.3.4.5.6", "1.2.3.4.5.6"},
		{"4294967295", "4294967295"},
		{"0", "0"},

		{"", ""},
		{"  ", ""},
		{"v", ""},
		{"17.", ""},
		{".4", ""},
		{"17..1", ""},
		{"17.x", ""},
		{"iOS 17", ""},
		{"-1", ""},
		{"4294967296", ""},
		{"99999999999999999999", ""},
		{"1.2.3.4.5.6.7", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseOSVersion(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseOSVersion(%q) = %v, want an error", tc.in, v)
				}
				if !errors.Is(err, ErrInvalidValue) {
					t.Errorf("error %v is not ErrInvalidValue", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOSVersion(%q): %v", tc.in, err)
			}
			if got := v.String(); got != tc.want {
				t.Errorf("ParseOSVersion(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func mustVersion(tb testing.TB, s string) OSVersion {
	tb.Helper()
	v, err := ParseOSVersion(s)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestOSVersionCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"14", "14.0", 0},
		{"14", "14.0.0", 0},
		{"14.0.1", "14", 1},
		{"9", "10", -1},
		{"10.0.19045", "10.0.19044.9999", 1},
		{"17.4.1", "17.10", -1},
		{"2", "10", -1},
	}
	for _, tc := range tests {
		a, b := mustVersion(t, tc.a), mustVersion(t, tc.b)
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.Compare(a); got != -tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestOSVersionBounds(t *testing.T) {
	tests := []struct {
		v, bound        string
		atLeast, atMost bool
	}{
		{"17.4.1", "17", true, true},
		{"17.4.1", "17.4", true, true},
		{"17.4.1", "17.4.1", true, true},
		{"17.4.1", "17.4.2", false, true},
		{"17.4.1", "17.4.0", true, false},
		{"17.4.1", "17.3", true, false},
		{"17.4.1", "18", false, true},
		{"17", "17.0.0", true, true},
		{"17", "17.0.1", false, true},
		{"16.7.9", "17", false, true},
		{"18.0", "17", true, false},
	}
	for _, tc := range tests {
		v, b := mustVersion(t, tc.v), mustVersion(t, tc.bound)
		if got := v.AtLeast(b); got != tc.atLeast {
			t.Errorf("%s.AtLeast(%s) = %v", tc.v, tc.bound, got)
		}
		if got := v.AtMost(b); got != tc.atMost {
			t.Errorf("%s.AtMost(%s) = %v", tc.v, tc.bound, got)
		}
	}
}

func TestOSVersionAccessors(t *testing.T) {
	v := mustVersion(t, "10.0.19045")
	if v.Len() != 3 || v.Part(0) != 10 || v.Part(2) != 19045 || v.Part(3) != 0 || v.Part(-1) != 0 {
		t.Errorf("accessors of %v: Len %d, parts %d %d %d", v, v.Len(), v.Part(0), v.Part(2), v.Part(3))
	}
	if v.IsZero() || !(OSVersion{}).IsZero() || (OSVersion{}).String() != "" {
		t.Error("IsZero/String of the zero version")
	}
}
