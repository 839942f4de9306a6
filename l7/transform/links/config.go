package links

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidConfig is wrapped by every error of [New] and [ReadDomainsCSV].
var ErrInvalidConfig = errors.New("invalid link rewriting config")

// Mode picks the links a [Rewriter] rewrites.
type Mode uint8

// Modes, as the reference gateway names them.
const (
	// All rewrites every http and https link. The zero Mode.
	All Mode = iota
	// Include rewrites only links to the listed domains.
	Include
	// Exclude rewrites every link except those to the listed domains.
	Exclude
)

var modeNames = [...]string{"all", "include", "exclude"}

// String returns "all", "include" or "exclude".
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode reads "all", "include" or "exclude", ignoring case and
// surrounding space.
func ParseMode(s string) (Mode, error) {
	t := strings.TrimSpace(s)
	for i, n := range modeNames {
		if strings.EqualFold(t, n) {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("link mode %q: want all, include or exclude: %w", s, ErrInvalidConfig)
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) {
	if int(m) >= len(modeNames) {
		return nil, fmt.Errorf("link mode %d: %w", uint8(m), ErrInvalidConfig)
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Default target schemes: those of the managed secure browser.
const (
	DefaultHTTPScheme  = "mibrowser"
	DefaultHTTPSScheme = "mibrowsers"
)

// Config is what to rewrite, and into what.
type Config struct {
	// HTTPScheme replaces the scheme of http links: http://host/p
	// becomes HTTPScheme://host/p. A scheme as RFC 3986 section 3.1
	// defines it (a letter, then letters, digits, '+', '-', '.'); it is
	// written in lower case. Default [DefaultHTTPScheme] ("mibrowser").
	HTTPScheme string `yaml:"http_scheme" required:"required: the secure browser's scheme, e.g. http_scheme: mibrowser, https_scheme: mibrowsers"`
	// HTTPSScheme replaces the scheme of https links. Default
	// [DefaultHTTPSScheme] ("mibrowsers").
	HTTPSScheme string `yaml:"https_scheme" required:"required: the secure browser's scheme, e.g. http_scheme: mibrowser, https_scheme: mibrowsers"`
	// Mode picks the links to rewrite. Default [All].
	Mode Mode `yaml:"mode" check:"enum a link mode: all, include, exclude"`
	// Domains are the domains of Include and Exclude (checked but unused
	// in All mode). "example.com" matches example.com and every name
	// under it (www.example.com, a.b.example.com); a leading "*." or "."
	// means the same. Case is ignored for ASCII letters; a trailing dot
	// is dropped. Internationalized names are compared as given, byte for
	// byte: list both the Unicode form (bücher.example) and the ACE form
	// (xn--bcher-kva.example) if mail may use either. An IPv4 or IPv6
	// address (bracketed or not) matches that address only. Default none;
	// Include needs at least one.
	Domains []string `yaml:"domains" example:"[example.com, intranet.example]"`
}

// Rewriter rewrites links in mail bodies. Build it with [New]; it is
// immutable and safe for concurrent use.
type Rewriter struct {
	http, https []byte
	mode        Mode
	names       map[string]struct{}
	addrs       map[netip.Addr]struct{}
}

// New checks cfg and returns its rewriter. Errors wrap [ErrInvalidConfig]
// and name the field at fault.
func New(cfg Config) (*Rewriter, error) {
	r := &Rewriter{mode: cfg.Mode}
	var err error
	if r.http, err = targetScheme("HTTPScheme", cfg.HTTPScheme, DefaultHTTPScheme); err != nil {
		return nil, err
	}
	if r.https, err = targetScheme("HTTPSScheme", cfg.HTTPSScheme, DefaultHTTPSScheme); err != nil {
		return nil, err
	}
	if cfg.Mode > Exclude {
		return nil, fmt.Errorf("links: Mode %d: want all, include or exclude: %w", uint8(cfg.Mode), ErrInvalidConfig)
	}
	for i, d := range cfg.Domains {
		name, addr, err := normalizeDomain(d)
		if err != nil {
			return nil, fmt.Errorf("links: Domains[%d] %q: %s: %w", i, d, err.Error(), ErrInvalidConfig)
		}
		if addr.IsValid() {
			if r.addrs == nil {
				r.addrs = make(map[netip.Addr]struct{})
			}
			r.addrs[addr] = struct{}{}
			continue
		}
		if r.names == nil {
			r.names = make(map[string]struct{}, len(cfg.Domains))
		}
		r.names[name] = struct{}{}
	}
	if cfg.Mode == Include && len(cfg.Domains) == 0 {
		return nil, fmt.Errorf("links: mode include with no Domains would rewrite nothing: list the domains, or use mode all: %w", ErrInvalidConfig)
	}
	return r, nil
}

// Mode returns the rewriter's mode.
func (r *Rewriter) Mode() Mode { return r.mode }

func targetScheme(field, s, def string) ([]byte, error) {
	if s == "" {
		s = def
	}
	if len(s) > 64 {
		return nil, fmt.Errorf("links: %s %q: longer than 64 characters: %w", field, s, ErrInvalidConfig)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.') {
			continue
		}
		return nil, fmt.Errorf("links: %s %q: not a URL scheme (RFC 3986 3.1: a letter, then letters, digits, '+', '-' or '.'; no \"://\"): %w",
			field, s, ErrInvalidConfig)
	}
	return []byte(strings.ToLower(s)), nil
}

// normalizeDomain checks one entry of Config.Domains and returns it as
// the matcher keeps it: a lower-cased name without leading "*." or
// trailing dot, or an address.
func normalizeDomain(s string) (string, netip.Addr, error) {
	d := strings.TrimSpace(s)
	if strings.Contains(d, "://") || strings.ContainsAny(d, "/?#@") {
		return "", netip.Addr{}, errors.New("a domain name, not a URL: write it as example.com")
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(d, "["), "]")); err == nil {
		if a.Zone() != "" {
			return "", netip.Addr{}, errors.New("an address with a zone matches no link")
		}
		return "", a.Unmap(), nil
	}
	if strings.HasPrefix(d, "*.") {
		d = d[2:]
	} else if strings.HasPrefix(d, ".") {
		d = d[1:]
	}
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", netip.Addr{}, errors.New("empty domain")
	}
	if len(d) > 253 {
		return "", netip.Addr{}, errors.New("longer than 253 characters (RFC 1035 2.3.4)")
	}
	if !utf8.ValidString(d) {
		return "", netip.Addr{}, errors.New("not valid UTF-8")
	}
	// Non-ASCII white space or controls (U+0085, U+00A0, U+2028 ...) are no
	// part of a name, and TrimSpace above would strip one that a trailing
	// dot hid, so the result would not normalize to itself (ASCII ones are
	// refused below, by character).
	if strings.IndexFunc(d, func(r rune) bool { return r >= utf8.RuneSelf && (unicode.IsSpace(r) || unicode.IsControl(r)) }) >= 0 {
		return "", netip.Addr{}, errors.New("white space or a control character in a domain name")
	}
	b := []byte(d)
	start := 0
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] != '.' {
			c := b[i]
			switch {
			case c >= 'A' && c <= 'Z':
				b[i] = c + 'a' - 'A'
			case isAlpha(c), isDigit(c), c == '-', c == '_', c >= 0x80:
			case c == '*':
				return "", netip.Addr{}, errors.New("'*' is allowed only as a leading \"*.\"")
			default:
				return "", netip.Addr{}, badCharError(c)
			}
			continue
		}
		label := b[start:i]
		switch {
		case len(label) == 0:
			return "", netip.Addr{}, errors.New("empty label")
		case len(label) > 63:
			return "", netip.Addr{}, errors.New("label longer than 63 characters (RFC 1035 2.3.4)")
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", netip.Addr{}, errors.New("label starts or ends with '-' (RFC 1123 2.1)")
		}
		start = i + 1
	}
	// Browsers read a host whose last label is a number as an IPv4 address
	// (WHATWG URL "ends in a number"), so such a name never matches a
	// link's host; an address must be written whole.
	if allDigits(lastLabel(b)) {
		return "", netip.Addr{}, errors.New("last label is a number: write an IP address in full (192.0.2.1)")
	}
	return string(b), netip.Addr{}, nil
}

func lastLabel(b []byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '.' {
			return b[i+1:]
		}
	}
	return b
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// badCharError is a character not allowed in a domain name. Its Error
// quotes the character; ReadDomainsCSV says less, since it never echoes
// a file's content.
type badCharError byte

func (c badCharError) Error() string {
	return fmt.Sprintf("character %q is not allowed in a domain name", byte(c))
}
