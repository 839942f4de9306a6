package device

import (
	"fmt"
	"time"
)

// Fact is a yes/no fact that device management may or may not have
// reported. The zero Fact is Unreported: the reference gateway's compromise
// and encryption policies block only devices that reported, and so do ours.
type Fact uint8

// Facts.
const (
	Unreported Fact = iota
	Yes
	No
)

var factNames = [...]string{"", "yes", "no"}

// FactOf returns Yes or No.
func FactOf(b bool) Fact {
	if b {
		return Yes
	}
	return No
}

// String returns "yes", "no", or "" when unreported.
func (f Fact) String() string {
	if int(f) < len(factNames) {
		return factNames[f]
	}
	return fmt.Sprintf("Fact(%d)", uint8(f))
}

// Valid reports whether f is Unreported, Yes or No.
func (f Fact) Valid() bool { return f <= No }

// Reported reports whether device management reported the fact.
func (f Fact) Reported() bool { return f == Yes || f == No }

// MarshalText implements encoding.TextMarshaler.
func (f Fact) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads "", "yes"/"true" or "no"/"false", ignoring case.
func (f *Fact) UnmarshalText(b []byte) error {
	s := string(b)
	switch {
	case equalFoldTrim(s, ""):
		*f = Unreported
	case equalFoldTrim(s, "yes"), equalFoldTrim(s, "true"):
		*f = Yes
	case equalFoldTrim(s, "no"), equalFoldTrim(s, "false"):
		*f = No
	default:
		return fmt.Errorf("fact %q: want yes, no or empty: %w", s, ErrInvalidValue)
	}
	return nil
}

// Override is an administrator's per-device decision, the reference
// gateway's Whitelist/Blacklist/Default plus Exchange's quarantine.
type Override uint8

// Overrides.
const (
	// OverrideDefault lets the policy decide (the zero value).
	OverrideDefault Override = iota
	// OverrideWhitelist allows the device for its own user whatever its
	// compliance.
	OverrideWhitelist
	// OverrideBlacklist blocks the device, for any user.
	OverrideBlacklist
	// OverrideQuarantine holds the device in quarantine, for any user,
	// until an administrator releases it.
	OverrideQuarantine
)

var overrideNames = [...]string{"default", "whitelist", "blacklist", "quarantine"}

// String returns "default", "whitelist", "blacklist" or "quarantine".
func (o Override) String() string {
	if int(o) < len(overrideNames) {
		return overrideNames[o]
	}
	return fmt.Sprintf("Override(%d)", uint8(o))
}

// Valid reports whether o is one of the defined overrides.
func (o Override) Valid() bool { return o <= OverrideQuarantine }

// ParseOverride reads an override name, ignoring case; "" is
// OverrideDefault, and "allow"/"block" are accepted for whitelist/blacklist
// as the CLI spells them.
func ParseOverride(s string) (Override, error) {
	switch {
	case equalFoldTrim(s, ""), equalFoldTrim(s, "default"):
		return OverrideDefault, nil
	case equalFoldTrim(s, "whitelist"), equalFoldTrim(s, "allow"):
		return OverrideWhitelist, nil
	case equalFoldTrim(s, "blacklist"), equalFoldTrim(s, "block"):
		return OverrideBlacklist, nil
	case equalFoldTrim(s, "quarantine"):
		return OverrideQuarantine, nil
	}
	return 0, fmt.Errorf("override %q: want default, whitelist, blacklist or quarantine: %w", s, ErrInvalidValue)
}

// MarshalText implements encoding.TextMarshaler.
func (o Override) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Override) UnmarshalText(b []byte) error {
	v, err := ParseOverride(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Record is what the gateway knows about one device: the compliance facts
// device management reported and the administrator's override. Records are
// keyed by EAS device ID, compared without regard to case.
type Record struct {
	// DeviceID is the EAS DeviceId. Required.
	DeviceID string
	// User is the account the device syncs as, DOMAIN\user or
	// user@domain. A record with a user applies only to requests from
	// that user (see [ReasonUserMismatch]); "" applies to any user.
	User string
	// Managed reports that the device is enrolled in device management.
	// Only managed devices are subject to the managed-device policies.
	Managed bool

	// Compromised is the device's jailbreak/root status; Unreported never
	// blocks.
	Compromised Fact
	// Encrypted is the device's data protection status; Unreported never
	// blocks.
	Encrypted Fact
	// Platform is the device management platform name, such as "Apple",
	// "Android" or "WinRT"; matched by the model and OS policies.
	Platform string
	// Model is the model device management reports ("iPhone 15 Pro").
	Model string
	// OSVersion is the operating system version, such as "17.4.1",
	// "14" or "10.0.19045"; see [ParseOSVersion].
	OSVersion string
	// LastCheckIn is the device's last contact with device management; the
	// zero time means never (or not reported), which the inactivity policy
	// treats as inactive.
	LastCheckIn time.Time
	// EASProfile reports that the managed Exchange ActiveSync profile is
	// installed on the device.
	EASProfile bool

	// Override is the administrator's per-device decision.
	Override Override
	// Updated is when device management last changed the record; kept for
	// diagnostics and sync, not used by decisions.
	Updated time.Time
}

// validate checks what the store relies on.
func (r *Record) validate() error {
	if trimSpace(r.DeviceID) == "" {
		return &RecordError{DeviceID: r.DeviceID, Field: "DeviceID", Problem: "empty"}
	}
	if !r.Compromised.Valid() {
		return &RecordError{DeviceID: r.DeviceID, Field: "Compromised", Problem: fmt.Sprintf("undefined fact %d", r.Compromised)}
	}
	if !r.Encrypted.Valid() {
		return &RecordError{DeviceID: r.DeviceID, Field: "Encrypted", Problem: fmt.Sprintf("undefined fact %d", r.Encrypted)}
	}
	if !r.Override.Valid() {
		return &RecordError{DeviceID: r.DeviceID, Field: "Override", Problem: fmt.Sprintf("undefined override %d", r.Override)}
	}
	return nil
}
