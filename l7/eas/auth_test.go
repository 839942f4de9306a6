package eas

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in, scheme, rest string
		ok               bool
	}{
		{"Basic amFuZTp4", "Basic", "amFuZTp4", true},
		{"basic  amFuZTp4", "basic", "amFuZTp4", true},
		{"Negotiate", "Negotiate", "", true},
		{`Digest username="x", realm="y"`, "Digest", `username="x", realm="y"`, true},
		{"Basic\tamFuZTp4", "", "", false},
		{"amFuZTp4==", "", "", false},
		{"Basic,amFuZTp4", "", "", false},
		{" Basic x", "", "", false},
		{"Basic ", "", "", false},
		{"", "", "", false},
		{strings.Repeat("A", MaxAuthSchemeLen+1) + " x", "", "", false},
	} {
		scheme, rest, ok := ParseAuthorization(tc.in)
		if scheme != tc.scheme || rest != tc.rest || ok != tc.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %q, %v; want %q, %q, %v", tc.in, scheme, rest, ok, tc.scheme, tc.rest, tc.ok)
		}
	}
}

func TestBasicAuthUser(t *testing.T) {
	for _, tc := range []struct {
		in, user     string
		basic, isErr bool
	}{
		{"Basic amFuZTpzZWNyZXQ=", "jane", true, false},
		{"BASIC amFuZTpzZWNyZXQ", "jane", true, false},
		{"Basic amFuZTpzZWNyZXQ=x", "", true, true},
		{"Basic amFu ZTpzZWNyZXQ=", "", true, true},
		{"Basic Omp1c3Q=", "", true, true}, // ":just"
		{"Bearer amFuZTpzZWNyZXQ=", "", false, false},
		{"Basic\tamFuZTpzZWNyZXQ=", "", false, false},
	} {
		user, basic, err := BasicAuthUser(tc.in)
		if user != tc.user || basic != tc.basic || (err != nil) != tc.isErr {
			t.Errorf("BasicAuthUser(%q) = %q, %v, %v", tc.in, user, basic, err)
		}
		if err != nil && !errors.Is(err, ErrBadAuthorization) {
			t.Errorf("BasicAuthUser(%q): %v does not wrap ErrBadAuthorization", tc.in, err)
		}
	}
}

func TestSameUser(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"alice", "ALICE", true},
		{"alice", " alice ", true},
		{`CONTOSO\alice`, "alice@contoso.com", true},
		{`contoso\Alice`, "ALICE@Contoso.Com", true},
		{`CONTOSO\alice`, "alice", true},
		{"alice@contoso.com", "alice", true},
		{`FABRIKAM\alice`, "alice@contoso.com", false},
		{`CONTOSO\alice`, `FABRIKAM\alice`, false},
		{"alice@contoso.com", "alice@fabrikam.com", false},
		{"alice", "bob", false},
		{`CONTOSO\alice`, "bob@contoso.com", false},
		{"", "", false},
		{"", "alice", false},
	} {
		if got := SameUser(tc.a, tc.b); got != tc.want {
			t.Errorf("SameUser(%q, %q) = %v", tc.a, tc.b, got)
		}
		if got := SameUser(tc.b, tc.a); got != tc.want {
			t.Errorf("SameUser(%q, %q) = %v (not symmetric)", tc.b, tc.a, got)
		}
	}
}

// FuzzParseAuthorization: a value that parses starts with its scheme, a
// token of at most MaxAuthSchemeLen characters, ends there or continues
// with a space, and its rest is the value's tail.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Basic amFuZTp4", "Basic\tamFuZTp4", "Negotiate", "x==", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		scheme, rest, ok := ParseAuthorization(v)
		if !ok {
			if scheme != "" || rest != "" {
				t.Fatalf("not ok but %q, %q", scheme, rest)
			}
			return
		}
		if scheme == "" || len(scheme) > MaxAuthSchemeLen || !strings.HasPrefix(v, scheme) || !strings.HasSuffix(v, rest) {
			t.Fatalf("ParseAuthorization(%q) = %q, %q", v, scheme, rest)
		}
		for i := 0; i < len(scheme); i++ {
			if !isTokenChar(scheme[i]) {
				t.Fatalf("scheme %q holds %q", scheme, scheme[i])
			}
		}
		if tail := v[len(scheme):]; tail != "" && (tail[0] != ' ' || rest == "") {
			t.Fatalf("ParseAuthorization(%q) = %q, %q", v, scheme, rest)
		}
		if _, basic, err := BasicAuthUser(v); err != nil && (!basic || !errors.Is(err, ErrBadAuthorization)) {
			t.Fatalf("BasicAuthUser(%q): basic=%v err=%v", v, basic, err)
		}
	})
}
