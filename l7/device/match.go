package device

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// foldBufLen is the size of the stack buffers request values are folded
// into on the hot path. EAS device IDs, types, users and the User-Agents of
// mail clients fit easily; a longer value is folded on the heap (one
// allocation, same answer).
const foldBufLen = 256

// maxPatternLen bounds a policy pattern: every wildcard pattern of a list is
// tried against the request's value, so its cost must stay small.
const maxPatternLen = 256

// fold appends the comparison form of s to dst: surrounding white space
// trimmed, each rune lower-cased (unicode.ToLower, so "İ" and "K" (Kelvin)
// fold too). Bytes that are not UTF-8 are kept as they are, so two
// different invalid strings never fold to the same key.
func fold(dst []byte, s string) []byte {
	s = trimSpace(s)
	// Fast path: ASCII into room already there, no append per byte.
	if n := len(dst); cap(dst)-n >= len(s) {
		out := dst[n : n+len(s)]
		i := 0
		for ; i < len(s) && s[i] < utf8.RuneSelf; i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			out[i] = c
		}
		dst, s = dst[:n+i], s[i:]
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += n
	}
	return dst
}

// foldString returns the comparison form of s as a string (allocates; for
// compile and write paths).
func foldString(s string) string { return string(fold(nil, s)) }

// Fold returns the key under which this package compares device IDs,
// users, device types and the other matched values: trimmed and
// lower-cased.
func Fold(s string) string { return foldString(s) }

// trimSpace is strings.TrimSpace with a fast path for the usual value
// that starts and ends with a printable ASCII character.
func trimSpace(s string) string {
	if len(s) == 0 || (s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf) {
		return s
	}
	return strings.TrimSpace(s)
}

// equalFoldTrim compares a user-typed name with a canonical one.
func equalFoldTrim(s, name string) bool { return strings.EqualFold(trimSpace(s), name) }

// Match reports whether value matches pattern as this package matches
// list entries and rule queries: without regard to case and surrounding
// white space, '*' any run of characters (none included), '?' one
// character. Other packages use it so that every pattern an operator
// writes means the same thing.
func Match(pattern, value string) bool {
	return globMatch(foldString(pattern), fold(nil, value))
}

// hasWildcard reports whether a pattern uses '*' or '?'.
func hasWildcard(p string) bool { return strings.ContainsAny(p, "*?") }

// globMatch reports whether the folded value s matches the folded pattern
// p: '*' matches any run of characters (none included), '?' exactly one
// character, anything else itself. There is no escape: device types, mail
// clients and user names do not use '*' or '?'.
//
// This is the usual linear-space backtracking matcher (at most
// len(p)*len(s) steps); a star resumes one rune further on each retry so
// that '?' and '*' consume whole UTF-8 characters.
func globMatch(p string, s []byte) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				_, n := utf8.DecodeRune(s[sx:])
				px++
				sx += n
				continue
			default:
				if c == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRune(s[starS:])
		starS += n
		px, sx = starP+1, starS
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// glob is a compiled wildcard pattern. Its literal prefix and suffix
// reject most values with two comparisons before globMatch runs.
type glob struct {
	pat, prefix, suffix string // folded
}

func newGlob(folded string) glob {
	first := strings.IndexAny(folded, "*?")
	last := strings.LastIndexAny(folded, "*?")
	return glob{pat: folded, prefix: folded[:first], suffix: folded[last+1:]}
}

func (g *glob) match(k []byte) bool {
	return len(k) >= len(g.prefix)+len(g.suffix) &&
		string(k[:len(g.prefix)]) == g.prefix &&
		string(k[len(k)-len(g.suffix):]) == g.suffix &&
		globMatch(g.pat, k)
}

// matcher is a compiled list of patterns: literal patterns in a map for an
// O(1) look-up, wildcard patterns tried in order. Values are the rule
// strings reported in decisions.
type matcher struct {
	exact map[string]string
	globs []globEntry
}

type globEntry struct {
	glob
	rule string
}

// add compiles one entry; rule is what a decision reports when it matches.
// The first of duplicate entries wins.
func (m *matcher) add(entry, rule string) {
	k := foldString(entry)
	if hasWildcard(k) {
		for _, g := range m.globs {
			if g.pat == k {
				return
			}
		}
		m.globs = append(m.globs, globEntry{glob: newGlob(k), rule: rule})
		return
	}
	if m.exact == nil {
		m.exact = make(map[string]string)
	}
	if _, dup := m.exact[k]; !dup {
		m.exact[k] = rule
	}
}

func (m *matcher) empty() bool { return len(m.exact) == 0 && len(m.globs) == 0 }

// match looks up a folded value.
func (m *matcher) match(k []byte) (string, bool) {
	if len(m.exact) > 0 {
		if r, ok := m.exact[string(k)]; ok {
			return r, true
		}
	}
	for i := range m.globs {
		if m.globs[i].match(k) {
			return m.globs[i].rule, true
		}
	}
	return "", false
}

// userForm is how a user name names its domain.
type userForm uint8

const (
	formBare    userForm = iota // "jane"
	formNetBIOS                 // "CONTOSO\jane"
	formUPN                     // "jane@contoso.com"
)

// userKey is a user name folded for matching.
type userKey struct {
	full    []byte
	account []byte
	form    userForm
}

// makeUserKey folds u into buf. The account and domain are split from
// the folded name, which splits like the original: lower-casing never
// makes or removes a '\\' or '@'.
func makeUserKey(buf []byte, u string) userKey {
	full := fold(buf, u)
	k := userKey{full: full, account: full}
	if i := bytes.IndexByte(full, '\\'); i >= 0 {
		k.account = full[i+1:]
		if len(bytes.TrimSpace(full[:i])) > 0 {
			k.form = formNetBIOS
		}
	} else if i := bytes.LastIndexByte(full, '@'); i >= 0 {
		k.account = full[:i]
		if len(bytes.TrimSpace(full[i+1:])) > 0 {
			k.form = formUPN
		}
	}
	k.account = bytes.TrimSpace(k.account)
	return k
}

// userMatch reports whether two user names name the same account. They do
// when their folded forms are equal, or when their account parts are equal
// and one of them names no domain or they name it in different forms: the
// gateway cannot map a NetBIOS domain (CONTOSO) to a DNS one
// (contoso.com), and Exchange authenticates the name either way.
func userMatch(a, b userKey) bool {
	if bytes.Equal(a.full, b.full) {
		return true
	}
	if len(a.account) == 0 || !bytes.Equal(a.account, b.account) {
		return false
	}
	return a.form == formBare || b.form == formBare || a.form != b.form
}

// userSet is a compiled user list matched by the rule of userMatch, each
// rule an O(1) look-up: by full name; by account for entries without a
// domain; by account for entries with a domain, per form.
type userSet struct {
	full    map[string]string
	bare    map[string]string // entries without domain, by account
	netbios map[string]string // DOMAIN\user entries, by account
	upn     map[string]string // user@domain entries, by account
	globs   []globEntry       // matched against the full name
}

func addOnce(m *map[string]string, k, rule string) {
	if *m == nil {
		*m = make(map[string]string)
	}
	if _, dup := (*m)[k]; !dup {
		(*m)[k] = rule
	}
}

func (s *userSet) add(entry, rule string) {
	if hasWildcard(entry) {
		k := foldString(entry)
		for _, g := range s.globs {
			if g.pat == k {
				return
			}
		}
		s.globs = append(s.globs, globEntry{glob: newGlob(k), rule: rule})
		return
	}
	k := makeUserKey(nil, entry)
	addOnce(&s.full, string(k.full), rule)
	switch k.form {
	case formBare:
		addOnce(&s.bare, string(k.account), rule)
	case formNetBIOS:
		addOnce(&s.netbios, string(k.account), rule)
	case formUPN:
		addOnce(&s.upn, string(k.account), rule)
	}
}

func (s *userSet) empty() bool { return len(s.full) == 0 && len(s.globs) == 0 }

func (s *userSet) match(u userKey) (string, bool) {
	if len(s.full) > 0 {
		if r, ok := s.full[string(u.full)]; ok {
			return r, true
		}
	}
	if len(u.account) > 0 {
		if len(s.bare) > 0 {
			if r, ok := s.bare[string(u.account)]; ok {
				return r, true
			}
		}
		if u.form != formNetBIOS && len(s.netbios) > 0 {
			if r, ok := s.netbios[string(u.account)]; ok {
				return r, true
			}
		}
		if u.form != formUPN && len(s.upn) > 0 {
			if r, ok := s.upn[string(u.account)]; ok {
				return r, true
			}
		}
	}
	for i := range s.globs {
		if s.globs[i].match(u.full) {
			return s.globs[i].rule, true
		}
	}
	return "", false
}

// productToken returns the product part of a folded User-Agent, up to the
// first '/' or space: "apple-iphone5c3" of "apple-iphone5c3/1405.526000002",
// "outlook-ios-android" of "outlook-ios-android/1.0".
func productToken(ua []byte) []byte {
	for i, c := range ua {
		if c == '/' || c == ' ' {
			return ua[:i]
		}
	}
	return ua
}
