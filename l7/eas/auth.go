package eas

import (
	"encoding/base64"
	"strings"
)

// MaxAuthSchemeLen bounds the auth-scheme [ParseAuthorization] accepts.
// Registered schemes are short ("Negotiate" is the longest in common
// use); a longer "scheme" is a credential sent without one.
const MaxAuthSchemeLen = 32

// ParseAuthorization splits an Authorization header value into its
// auth-scheme and the rest (RFC 9110 section 11.4: credentials =
// auth-scheme [ 1*SP ( token68 / #auth-param ) ], the scheme a token
// compared without regard to case). ok is false when the value does not
// start with a token of at most MaxAuthSchemeLen characters followed by
// the end or by at least one space and something: "Basic\t<b64>" has no
// scheme, and neither has a bare credential.
func ParseAuthorization(v string) (scheme, rest string, ok bool) {
	i := 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	if i == 0 || i > MaxAuthSchemeLen {
		return "", "", false
	}
	scheme = v[:i]
	if i == len(v) {
		return scheme, "", true
	}
	if v[i] != ' ' {
		return "", "", false
	}
	rest = strings.TrimLeft(v[i:], " ")
	if rest == "" {
		// Go trims trailing whitespace off header values; a scheme and
		// spaces alone is not what a client sends.
		return "", "", false
	}
	return scheme, rest, true
}

// isTokenChar reports whether c is a tchar (RFC 9110 section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken68 reports whether s is a token68 (RFC 9110 section 11.2):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0 {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// BasicAuthUser returns the user name of an Authorization header value of
// the Basic scheme (RFC 7617: the scheme in any case, then base64 of
// "user:password" as a token68). basic is false for any other scheme or
// a value without one; err is set for Basic credentials that do not
// decode to a non-empty user. The password is dropped at once.
func BasicAuthUser(v string) (user string, basic bool, err error) {
	scheme, cred, ok := ParseAuthorization(v)
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false, nil
	}
	user, err = basicUser(cred)
	return user, true, err
}

// basicUser returns the user name of Basic credentials (RFC 7617):
// base64("user:password"). The password is dropped at once.
func basicUser(cred string) (string, error) {
	if !isToken68(cred) {
		return "", fieldErr("Authorization", ErrBadAuthorization, "credentials are not a token68")
	}
	enc := base64.StdEncoding
	if len(cred)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	raw, err := enc.DecodeString(cred)
	if err != nil {
		return "", fieldErr("Authorization", ErrBadAuthorization, "credentials are not base64")
	}
	user, _, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", fieldErr("Authorization", ErrBadAuthorization, "credentials hold no ':'")
	}
	if user == "" {
		return "", fieldErr("Authorization", ErrBadAuthorization, "empty user name")
	}
	return user, nil
}

// SameUser reports whether two user names name the same account. Names
// compare without regard to case and surrounding space. "DOMAIN\user"
// and "user@domain.suffix" match when the accounts are equal and DOMAIN
// equals the first label of the UPN suffix (the usual NetBIOS name of an
// Active Directory domain: CONTOSO\jane and jane@contoso.com); a bare
// "user" matches either form with that account. Two names of the same
// form must be equal.
func SameUser(a, b string) bool {
	a, b = NormalizeUser(a), NormalizeUser(b)
	if a == b {
		return a != ""
	}
	aa, ad := SplitUser(a)
	ba, bd := SplitUser(b)
	if aa == "" || aa != ba {
		return false
	}
	aUPN, bUPN := strings.Contains(a, "@") && !strings.Contains(a, `\`), strings.Contains(b, "@") && !strings.Contains(b, `\`)
	switch {
	case ad == "" || bd == "":
		return true
	case aUPN == bUPN:
		return false // same form, different domains
	case aUPN:
		return firstLabel(ad) == bd
	default:
		return firstLabel(bd) == ad
	}
}

func firstLabel(domain string) string {
	l, _, _ := strings.Cut(domain, ".")
	return l
}
