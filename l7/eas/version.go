package eas

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an ActiveSync protocol version such as 14.1.
type Version struct {
	Major uint8
	Minor uint8
}

// Protocol versions of [MS-ASHTTP] section 2.2.1.1.2.6 (2.0 and 2.1 are
// older versions servers still advertise).
var (
	V20  = Version{2, 0}
	V21  = Version{2, 1}
	V25  = Version{2, 5}
	V120 = Version{12, 0}
	V121 = Version{12, 1}
	V140 = Version{14, 0}
	V141 = Version{14, 1}
	V160 = Version{16, 0}
	V161 = Version{16, 1}
)

var knownVersions = []Version{V20, V21, V25, V120, V121, V140, V141, V160, V161}

// String formats v as "14.1"; the zero Version prints as "".
func (v Version) String() string {
	if v.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// IsZero reports whether v is unset.
func (v Version) IsZero() bool { return v == Version{} }

// Known reports whether v is a version the specifications define.
func (v Version) Known() bool {
	for _, k := range knownVersions {
		if v == k {
			return true
		}
	}
	return false
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// ParseVersion parses "14.1" as the MS-ASProtocolVersion header carries it.
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}, fmt.Errorf("version %q: want major.minor: %w", s, ErrBadValue)
	}
	a, err1 := strconv.ParseUint(maj, 10, 8)
	b, err2 := strconv.ParseUint(min, 10, 8)
	if err1 != nil || err2 != nil {
		return Version{}, fmt.Errorf("version %q: want decimal major.minor: %w", s, ErrBadValue)
	}
	return Version{uint8(a), uint8(b)}, nil
}

// versionFromByte decodes the Protocol version field of the base64 query:
// the version times ten, 141 for 14.1 ([MS-ASHTTP] 2.2.1.1.1.1).
func versionFromByte(b uint8) Version { return Version{b / 10, b % 10} }

// byteValue encodes v for the base64 query; only versions whose minor part
// is one digit and whose value times ten fits a byte can be expressed.
func (v Version) byteValue() (uint8, bool) {
	n := int(v.Major)*10 + int(v.Minor)
	if v.Minor > 9 || n > 255 {
		return 0, false
	}
	return uint8(n), true
}
