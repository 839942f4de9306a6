package store

import (
	"errors"
	"fmt"
	"net/netip"
	"unicode"
	"unicode/utf8"

	"github.com/mailgate/enforcer/policy"
)

// Sentinel errors; every error the package returns for one of these causes
// wraps the sentinel, so callers can test with errors.Is.
var (
	ErrInvalidPrefix    = errors.New("invalid prefix")
	ErrInvalidService   = errors.New("invalid service name")
	ErrInvalidCountry   = errors.New("invalid country code")
	ErrInvalidText      = errors.New("invalid text")
	ErrInvalidServiceID = errors.New("invalid service id")
	ErrLocked           = errors.New("state directory in use")
	ErrSchema           = errors.New("unsupported state schema")
	ErrCorrupt          = errors.New("state file corrupt")
	ErrClosed           = errors.New("state store closed")
)

// Limits on free text, so that a stray paste cannot bloat the store and the
// CLI's tables stay readable.
const (
	MaxCommentLen = 256 // bytes of Entry.Comment
	MaxAddedByLen = 64  // bytes of Entry.AddedBy
	MaxServiceLen = 64  // bytes of a service name
)

// InputError is an argument the store refused. Nothing was written.
type InputError struct {
	Err    error  // one of the ErrInvalid* sentinels
	Field  string // "prefix", "service", "country", "comment", "added-by", "service id", "services"
	Value  string // the offending value as given
	Reason string // what is wrong with it
	Hint   string // what to do instead; may be empty

	noValue bool // the complaint is about Field as a whole
}

func (e *InputError) Error() string {
	s := fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
	if e.noValue {
		s = e.Field + ": " + e.Reason
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *InputError) Unwrap() error { return e.Err }

// LockedError says another process holds the state directory.
type LockedError struct {
	Dir     string
	PID     int    // the holder, 0 if it could not be told
	Command string // the holder's command name, "" if unknown
}

func (e *LockedError) Error() string {
	who := "pid unknown"
	if e.PID > 0 {
		who = fmt.Sprintf("pid %d", e.PID)
		if e.Command != "" {
			who += ", " + e.Command
		}
	}
	return fmt.Sprintf("state directory %s is in use by another enforcer (%s); stop it first, or give this one another state directory", e.Dir, who)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// SchemaError says the state file was written with a schema this build
// does not understand.
type SchemaError struct {
	Path      string
	Found     uint64
	Supported uint64
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s has state schema version %d, but this enforcer understands versions up to %d: it was written by a newer enforcer; run that version again, or move the file away to start over from the config file alone",
		e.Path, e.Found, e.Supported)
}

func (e *SchemaError) Unwrap() error { return ErrSchema }

// ValidatePrefix checks that p can be stored: valid, canonical (no host
// bits set) and, for IPv4, written as IPv4 rather than IPv4-mapped IPv6.
//
// A non-canonical prefix is refused rather than masked: 192.0.2.1/24 might
// mean the host or the whole network, and widening an allowlist silently
// would admit more than the operator asked for.
func ValidatePrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return &InputError{Err: ErrInvalidPrefix, Field: "prefix", Value: p.String(), Reason: "not a valid CIDR", Hint: "write it as ADDRESS/BITS, e.g. 192.0.2.0/24 or 2001:db8::/32"}
	}
	if p.Addr().Zone() != "" {
		return &InputError{Err: ErrInvalidPrefix, Field: "prefix", Value: p.String(), Reason: "has an IPv6 zone", Hint: "drop the %zone"}
	}
	if p.Addr().Is4In6() {
		if p.Bits() >= 96 {
			return &InputError{Err: ErrInvalidPrefix, Field: "prefix", Value: p.String(), Reason: "is an IPv4-mapped IPv6 prefix", Hint: "write it as " + policy.Normalize(p).String()}
		}
		return &InputError{Err: ErrInvalidPrefix, Field: "prefix", Value: p.String(), Reason: "reaches beyond ::ffff:0:0/96 into IPv6 space", Hint: "use an IPv4 prefix, or an IPv6 prefix outside ::ffff:0:0/96"}
	}
	if m := p.Masked(); m != p {
		host := netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
		return &InputError{Err: ErrInvalidPrefix, Field: "prefix", Value: p.String(), Reason: "has host bits set",
			Hint: fmt.Sprintf("use %s for the network or %s for the single address", m, host)}
	}
	return nil
}

// ValidateService checks a service name: non-empty, at most MaxServiceLen
// bytes of printable UTF-8. Whether the service exists is the config's
// business, not the store's.
func ValidateService(name string) error {
	if name == "" {
		return &InputError{Err: ErrInvalidService, Field: "service", Value: name, Reason: "is empty", Hint: "name one of the services in the config file"}
	}
	if len(name) > MaxServiceLen {
		return &InputError{Err: ErrInvalidService, Field: "service", Value: name, Reason: fmt.Sprintf("is longer than %d bytes", MaxServiceLen)}
	}
	if reason := badText(name); reason != "" {
		return &InputError{Err: ErrInvalidService, Field: "service", Value: name, Reason: reason}
	}
	for _, r := range name {
		if unicode.IsSpace(r) {
			return &InputError{Err: ErrInvalidService, Field: "service", Value: name, Reason: "contains white space"}
		}
	}
	return nil
}

// ValidateCountry checks an ISO 3166-1 alpha-2 code: two upper-case ASCII
// letters, as the datapath's country table stores them.
func ValidateCountry(cc string) error {
	if len(cc) == 2 && isUpper(cc[0]) && isUpper(cc[1]) {
		return nil
	}
	e := &InputError{Err: ErrInvalidCountry, Field: "country", Value: cc, Reason: "is not two upper-case letters (ISO 3166-1 alpha-2)", Hint: "e.g. DE, US, BR"}
	if len(cc) == 2 && isLetter(cc[0]) && isLetter(cc[1]) {
		e.Hint = "write it in upper case: " + string([]byte{cc[0] &^ 0x20, cc[1] &^ 0x20})
	}
	return e
}

func isUpper(b byte) bool  { return b >= 'A' && b <= 'Z' }
func isLetter(b byte) bool { return isUpper(b) || (b >= 'a' && b <= 'z') }

// ValidateServiceID checks a datapath service id: 1..policy.MaxServiceID.
func ValidateServiceID(name string, id uint8) error {
	if id == 0 || id > policy.MaxServiceID {
		return &InputError{Err: ErrInvalidServiceID, Field: "service id", Value: fmt.Sprint(id), Reason: fmt.Sprintf("of service %q is out of range 1..%d", name, policy.MaxServiceID)}
	}
	return nil
}

func validateEntry(e Entry) error {
	if err := ValidatePrefix(e.Prefix); err != nil {
		return err
	}
	if len(e.Comment) > MaxCommentLen {
		return &InputError{Err: ErrInvalidText, Field: "comment", Value: e.Comment, Reason: fmt.Sprintf("is longer than %d bytes", MaxCommentLen), Hint: "shorten it"}
	}
	if reason := badText(e.Comment); reason != "" {
		return &InputError{Err: ErrInvalidText, Field: "comment", Value: e.Comment, Reason: reason}
	}
	if len(e.AddedBy) > MaxAddedByLen {
		return &InputError{Err: ErrInvalidText, Field: "added-by", Value: e.AddedBy, Reason: fmt.Sprintf("is longer than %d bytes", MaxAddedByLen)}
	}
	if reason := badText(e.AddedBy); reason != "" {
		return &InputError{Err: ErrInvalidText, Field: "added-by", Value: e.AddedBy, Reason: reason}
	}
	return nil
}

// badText says what makes s unfit for one line of CLI output, or "".
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains a control character (newline, tab, escape...)"
		}
	}
	return ""
}
