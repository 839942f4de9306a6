package device

import (
	"fmt"
	"strconv"
	"strings"
)

// maxVersionParts is the most components an OS version may have; Windows
// uses four (10.0.19045.3803).
const maxVersionParts = 6

// OSVersion is a dotted numeric operating system version: "17.4.1", "14",
// "10.0.19045". The zero OSVersion is unset.
type OSVersion struct {
	parts [maxVersionParts]uint32
	n     uint8
}

// ParseOSVersion reads an OS version: an optional "v", one to six decimal
// components separated by dots, and an optional suffix that starts with
// anything but a digit or a dot and is ignored ("17.4.1 (21E236)",
// "13-beta", "17.4b2"). Surrounding white space is ignored. Rejected: an
// empty string, a missing component ("17.", "17..1", ".4"), a component
// above 2^32-1, more than six components, and a leading word ("iOS 17").
func ParseOSVersion(s string) (OSVersion, error) {
	v, ok := parseOSVersion(s)
	if !ok {
		return OSVersion{}, fmt.Errorf("os version %q: want dotted decimal numbers such as 17.4.1: %w", s, ErrInvalidValue)
	}
	return v, nil
}

// parseOSVersion is ParseOSVersion without the error, allocation-free for
// the decision path.
func parseOSVersion(s string) (OSVersion, bool) {
	var v OSVersion
	s = trimSpace(s)
	if len(s) > 0 && (s[0] == 'v' || s[0] == 'V') {
		s = s[1:]
	}
	i := 0
	for {
		if v.n == maxVersionParts {
			return OSVersion{}, false
		}
		start := i
		var x uint64
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			x = x*10 + uint64(s[i]-'0')
			if x > 1<<32-1 {
				return OSVersion{}, false
			}
			i++
		}
		if i == start {
			return OSVersion{}, false
		}
		v.parts[v.n] = uint32(x)
		v.n++
		if i == len(s) || s[i] != '.' {
			break
		}
		i++ // the dot; a component must follow
	}
	return v, true
}

// IsZero reports whether v is unset.
func (v OSVersion) IsZero() bool { return v.n == 0 }

// Len returns the number of components.
func (v OSVersion) Len() int { return int(v.n) }

// Part returns component i (0 beyond Len).
func (v OSVersion) Part(i int) uint32 {
	if i < 0 || i >= int(v.n) {
		return 0
	}
	return v.parts[i]
}

// String formats v as its components joined by dots ("" when unset).
func (v OSVersion) String() string {
	var b strings.Builder
	for i := range int(v.n) {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(v.parts[i]), 10))
	}
	return b.String()
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than
// w; missing components count as zero, so 14 == 14.0 == 14.0.0.
func (v OSVersion) Compare(w OSVersion) int {
	return v.compareTo(w, max(v.n, w.n))
}

// compareTo compares the first n components of v and w, missing ones as
// zero.
func (v OSVersion) compareTo(w OSVersion, n uint8) int {
	for i := range n {
		a, b := v.parts[i], w.parts[i] // zero beyond either's length
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}

// AtLeast reports whether v satisfies the lower bound min, compared to
// min's precision: 17.4.1 is at least 17.4 and at least 17.
func (v OSVersion) AtLeast(min OSVersion) bool { return v.compareTo(min, min.n) >= 0 }

// AtMost reports whether v satisfies the upper bound max, compared to
// max's precision, so that a bound covers every version it is a prefix
// of: 17.4.1 is at most 17 and at most 17.4, but not at most 17.3.
func (v OSVersion) AtMost(max OSVersion) bool { return v.compareTo(max, max.n) <= 0 }
