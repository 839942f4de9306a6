package device

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mailgate/enforcer/l7/eas"
)

// MaxInactivityDays is the largest MDM inactivity period, as the reference
// gateway allows (1..32767 days).
const MaxInactivityDays = 32767

// Config is a device compliance policy as configured: the reference
// gateway's general access and managed-device policies, Exchange's device
// access (ABQ) rules and default access level, and test mode. The zero
// Config allows every device (every policy off, default access Allow).
// [NewPolicy] validates and compiles it.
//
// List entries and rule query strings match without regard to case and
// surrounding white space; '*' matches any run of characters and '?' one
// character (see the package documentation, "Matching").
//
// Config is declared once for every form it takes: the yaml tags are its
// keys in the configuration file's devices.policy (with check, example
// and required: the file's syntax, read by cmd/enforcer/config), the json
// tags its keys on the push API and pull pages (devicesync.PolicyDoc).
// A new field is one field here with its doc comment and tags, and its
// rule in [NewPolicy].
type Config struct {
	// Revision identifies the policy as device management sent it; reported
	// by diagnostics only. Default "".
	Revision string `yaml:"revision" json:"revision"`

	// ManagedOnly lets only managed devices sync (the reference gateway's
	// "Managed Device" general access policy). Default false.
	ManagedOnly bool `yaml:"managed_only" json:"managed_only,omitempty"`
	// AllowedMailClients, when not empty, lets only these mail clients
	// sync; an entry matches the whole User-Agent or its product name (see
	// [Identity.MailClient]). Default empty: any client.
	AllowedMailClients []string `yaml:"allowed_mail_clients" json:"allowed_mail_clients,omitempty" example:"[\"Outlook-iOS*\", Apple-iPhone*]"`
	// BlockedMailClients never sync; they win over AllowedMailClients.
	// Default empty.
	BlockedMailClients []string `yaml:"blocked_mail_clients" json:"blocked_mail_clients,omitempty" example:"[TouchDown*]"`
	// AllowedUsers, when not empty, lets only these users sync. An entry
	// is "jane" (any domain), "CONTOSO\jane", "jane@contoso.com" or a
	// wildcard pattern matched against the whole name ("*@contoso.com").
	// Default empty: any user.
	AllowedUsers []string `yaml:"allowed_users" json:"allowed_users,omitempty" example:"[\"*@example.com\"]"`
	// BlockedUsers never sync; they win over AllowedUsers. Default empty.
	BlockedUsers []string `yaml:"blocked_users" json:"blocked_users,omitempty" example:"[\"CONTOSO\\\\jane\"]"`
	// AllowedDeviceTypes, when not empty, lets only these EAS DeviceTypes
	// sync. Default empty: any type.
	AllowedDeviceTypes []string `yaml:"allowed_device_types" json:"allowed_device_types,omitempty" example:"[iPhone, Android]"`
	// BlockedDeviceTypes never sync; they win over AllowedDeviceTypes.
	// Default empty.
	BlockedDeviceTypes []string `yaml:"blocked_device_types" json:"blocked_device_types,omitempty" example:"[WindowsMail]"`

	// InactivityDays blocks managed devices that have not checked in with
	// device management for more than this many days (1..32767); 0 turns
	// the policy off. Default 0.
	InactivityDays int `yaml:"inactivity_days" json:"inactivity_days,omitempty" check:"0..32767"`
	// BlockCompromised blocks managed devices that reported themselves
	// compromised. Default false.
	BlockCompromised bool `yaml:"block_compromised" json:"block_compromised,omitempty"`
	// BlockUnencrypted blocks managed devices that reported their storage
	// unencrypted. Default false.
	BlockUnencrypted bool `yaml:"block_unencrypted" json:"block_unencrypted,omitempty"`
	// AllowedModels, when not empty, lets only managed devices whose
	// platform and model match an entry sync. Default empty: any model.
	AllowedModels []ModelRule `yaml:"allowed_models" json:"allowed_models,omitempty" example:"[{platform: Apple, model: \"iPhone*\"}]"`
	// AllowedOS, when not empty, lets only managed devices whose platform
	// matches an entry, with an OS version within that entry's bounds,
	// sync. Default empty: any OS.
	AllowedOS []OSRule `yaml:"allowed_os" json:"allowed_os,omitempty" example:"[{platform: Apple, min: \"17\"}]"`
	// RequireEASProfile blocks managed devices without the managed EAS
	// profile. Default false.
	RequireEASProfile bool `yaml:"require_eas_profile" json:"require_eas_profile,omitempty"`

	// Rules are Exchange-style device access rules: Block rules win over
	// Quarantine rules, which win over Allow rules, whatever their order.
	// Default empty.
	Rules []ABQRule `yaml:"rules" json:"rules,omitempty" example:"[{characteristic: DeviceType, query: \"Android*\", access: quarantine}]"`
	// DefaultAccess is the access of a device that no step decided on:
	// Exchange's DefaultAccessLevel. Default (zero) Allow.
	DefaultAccess Action `yaml:"default_access,omitempty" json:"default_access,omitempty" check:"enum an access level: allow, block, quarantine"`

	// TestMode evaluates every policy and reports its decision, but lets
	// the request through (see [Decision.TestMode]). Administrator
	// blacklist and quarantine overrides still apply. Default false.
	TestMode bool `yaml:"test_mode" json:"test_mode,omitempty"`
}

// ModelRule allows a device model on a platform. Both are patterns.
type ModelRule struct {
	Platform string `yaml:"platform" json:"platform"`
	Model    string `yaml:"model" json:"model"`
}

// OSRule allows the OS versions of a platform within inclusive bounds.
// Min and Max are OS versions compared at their own precision ("17"
// admits 17.0 up to every 17.x.y; see [OSVersion.AtMost]); "" leaves that
// side open. Platform is a pattern.
type OSRule struct {
	Platform string `yaml:"platform" json:"platform"`
	Min      string `yaml:"min" json:"min,omitempty" check:"text an OS version such as \"17.4\""`
	Max      string `yaml:"max" json:"max,omitempty" check:"text an OS version such as \"17.4\""`
}

// Characteristic is the device property an ABQ rule matches, as
// New-ActiveSyncDeviceAccessRule names them. (Exchange Online's
// XMSWLHeader is not supported.)
type Characteristic uint8

// Characteristics.
const (
	// DeviceType matches the EAS DeviceType of the request.
	DeviceType Characteristic = iota + 1
	// DeviceModel matches the model the device reported over EAS, else
	// its record's Model.
	DeviceModel
	// DeviceOS matches the OS the device reported over EAS ("iOS 17.4.1
	// 21E236"), else its record's "Platform OSVersion".
	DeviceOS
	// UserAgent matches the whole User-Agent.
	UserAgent
)

const numCharacteristics = 4

var characteristicNames = [...]string{"", "DeviceType", "DeviceModel", "DeviceOS", "UserAgent"}

// String returns the characteristic's Exchange name.
func (c Characteristic) String() string {
	if int(c) < len(characteristicNames) {
		return characteristicNames[c]
	}
	return fmt.Sprintf("Characteristic(%d)", uint8(c))
}

// Valid reports whether c is a defined characteristic.
func (c Characteristic) Valid() bool { return c >= DeviceType && c <= UserAgent }

// ParseCharacteristic reads a characteristic name, ignoring case.
func ParseCharacteristic(s string) (Characteristic, error) {
	for i, n := range characteristicNames {
		if i > 0 && equalFoldTrim(s, n) {
			return Characteristic(i), nil
		}
	}
	return 0, fmt.Errorf("characteristic %q: want DeviceType, DeviceModel, DeviceOS or UserAgent: %w", s, ErrInvalidValue)
}

// MarshalText implements encoding.TextMarshaler.
func (c Characteristic) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Characteristic) UnmarshalText(b []byte) error {
	v, err := ParseCharacteristic(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ABQRule is an Exchange device access rule: devices whose Characteristic
// matches Query get Access.
type ABQRule struct {
	// Name labels the rule in decisions; default "Characteristic=Query".
	Name           string         `yaml:"name" json:"name,omitempty"`
	Characteristic Characteristic `yaml:"characteristic" json:"characteristic" check:"enum a characteristic: DeviceType, DeviceModel, DeviceOS, UserAgent" required:"required, e.g. {characteristic: DeviceType, query: \"Android*\", access: quarantine}"`
	// Query is the value to match (Exchange's QueryString), a pattern.
	Query  string `yaml:"query" json:"query" required:"required, e.g. {characteristic: DeviceType, query: \"Android*\", access: quarantine}"`
	Access Action `yaml:"access" json:"access" check:"enum an access level: allow, block, quarantine" required:"required, e.g. {characteristic: DeviceType, query: \"Android*\", access: quarantine}"`
}

// Policy is a validated, compiled [Config]: immutable, safe for concurrent
// use by any number of [Decide] calls. A nil *Policy is "no policy loaded"
// and fails closed.
type Policy struct {
	cfg Config

	// loaded is false for the policies of NoPolicy.
	loaded        bool
	allowUnloaded bool

	allowedClients, blockedClients matcher
	allowedTypes, blockedTypes     matcher
	allowedUsers, blockedUsers     userSet

	inactivity  time.Duration
	inactiveMsg string
	models      platformIndex[matcher]
	osRules     platformIndex[[]osRange]

	// abq[level][characteristic]; level 0 Block, 1 Quarantine, 2 Allow.
	abq      [3][numCharacteristics]matcher
	hasRules bool
	defAcc   Action
	defRule  string
}

type osRange struct {
	min, max OSVersion
	rule     string
}

// platformIndex finds per-platform data by folded platform name, with
// wildcard platform patterns tried in order after the exact entry.
type platformIndex[T any] struct {
	exact map[string]*T
	globs []platformGlob[T]
	n     int
}

type platformGlob[T any] struct {
	glob
	v *T
}

// entry returns the data of a platform pattern, creating it.
func (x *platformIndex[T]) entry(pattern string) *T {
	x.n++
	k := foldString(pattern)
	if hasWildcard(k) {
		for _, g := range x.globs {
			if g.pat == k {
				return g.v
			}
		}
		v := new(T)
		x.globs = append(x.globs, platformGlob[T]{glob: newGlob(k), v: v})
		return v
	}
	if x.exact == nil {
		x.exact = make(map[string]*T)
	}
	v, ok := x.exact[k]
	if !ok {
		v = new(T)
		x.exact[k] = v
	}
	return v
}

func (x *platformIndex[T]) empty() bool { return x.n == 0 }

// NoPolicy returns the policy in force before any has been loaded: every
// request is blocked ([ReasonNoPolicyFailClosed]), or, when allowMail is
// set, allowed ([ReasonNoPolicyAllow]) — the reference gateway's "Allow
// email flow if no policies are present", off by default. Decide treats a
// nil *Policy as NoPolicy(false).
func NoPolicy(allowMail bool) *Policy {
	if allowMail {
		return noPolicyAllow
	}
	return noPolicyClosed
}

var (
	noPolicyClosed = &Policy{}
	noPolicyAllow  = &Policy{allowUnloaded: true}
)

// Loaded reports whether p is a loaded policy rather than one of NoPolicy.
func (p *Policy) Loaded() bool { return p != nil && p.loaded }

// Config returns the configuration p was compiled from. Its slices are
// shared with p: do not modify them.
func (p *Policy) Config() Config {
	if p == nil {
		return Config{}
	}
	return p.cfg
}

// NewPolicy validates cfg and compiles it. It reports every problem found,
// each a [*PolicyError] (errors.Is(err, ErrInvalidPolicy)), joined.
func NewPolicy(cfg Config) (*Policy, error) {
	p := &Policy{cfg: cfg, loaded: true}
	var errs []error
	bad := func(field, value, problem string) {
		errs = append(errs, &PolicyError{Field: field, Value: value, Problem: problem})
	}
	pattern := func(field, entry string) bool {
		t := trimSpace(entry)
		switch {
		case t == "":
			bad(field, entry, "empty entry; remove it")
			return false
		case len(t) > maxPatternLen:
			bad(field, entry[:32]+"...", fmt.Sprintf("longer than %d bytes", maxPatternLen))
			return false
		}
		return true
	}
	list := func(m *matcher, name string, entries []string) {
		for i, e := range entries {
			if pattern(fmt.Sprintf("%s[%d]", name, i), e) {
				m.add(e, name+"="+trimSpace(e))
			}
		}
	}
	users := func(s *userSet, name string, entries []string) {
		for i, e := range entries {
			f := fmt.Sprintf("%s[%d]", name, i)
			if !pattern(f, e) {
				continue
			}
			if !hasWildcard(e) {
				if a, _ := splitUserTrim(e); a == "" {
					bad(f, e, `names no account; write "jane", "DOMAIN\jane" or "jane@domain"`)
					continue
				}
			}
			s.add(e, name+"="+trimSpace(e))
		}
	}

	list(&p.allowedClients, "AllowedMailClients", cfg.AllowedMailClients)
	list(&p.blockedClients, "BlockedMailClients", cfg.BlockedMailClients)
	users(&p.allowedUsers, "AllowedUsers", cfg.AllowedUsers)
	users(&p.blockedUsers, "BlockedUsers", cfg.BlockedUsers)
	list(&p.allowedTypes, "AllowedDeviceTypes", cfg.AllowedDeviceTypes)
	list(&p.blockedTypes, "BlockedDeviceTypes", cfg.BlockedDeviceTypes)

	switch d := cfg.InactivityDays; {
	case d == 0:
	case d < 1 || d > MaxInactivityDays:
		bad("InactivityDays", strconv.Itoa(d), fmt.Sprintf("want 1..%d days, or 0 to turn the policy off", MaxInactivityDays))
	default:
		p.inactivity = time.Duration(d) * 24 * time.Hour
		p.inactiveMsg = "InactivityDays=" + strconv.Itoa(d)
	}

	for i, m := range cfg.AllowedModels {
		f := fmt.Sprintf("AllowedModels[%d]", i)
		okP := pattern(f+".Platform", m.Platform)
		okM := pattern(f+".Model", m.Model)
		if okP && okM {
			p.models.entry(m.Platform).add(m.Model, fmt.Sprintf("AllowedModels=%s/%s", trimSpace(m.Platform), trimSpace(m.Model)))
		}
	}

	for i, o := range cfg.AllowedOS {
		f := fmt.Sprintf("AllowedOS[%d]", i)
		ok := pattern(f+".Platform", o.Platform)
		var r osRange
		if trimSpace(o.Min) != "" {
			v, err := ParseOSVersion(o.Min)
			if err != nil {
				bad(f+".Min", o.Min, "not a version such as 17.4.1")
				ok = false
			}
			r.min = v
		}
		if trimSpace(o.Max) != "" {
			v, err := ParseOSVersion(o.Max)
			if err != nil {
				bad(f+".Max", o.Max, "not a version such as 17.4.1")
				ok = false
			}
			r.max = v
		}
		if ok && !r.min.IsZero() && !r.max.IsZero() && !r.min.AtMost(r.max) {
			bad(f, o.Min+".."+o.Max, "Min is above Max: no version can match")
			ok = false
		}
		if ok {
			r.rule = fmt.Sprintf("AllowedOS=%s %s..%s", trimSpace(o.Platform), trimSpace(o.Min), trimSpace(o.Max))
			e := p.osRules.entry(o.Platform)
			*e = append(*e, r)
		}
	}

	for i, r := range cfg.Rules {
		f := fmt.Sprintf("Rules[%d]", i)
		ok := pattern(f+".Query", r.Query)
		if !r.Characteristic.Valid() {
			bad(f+".Characteristic", r.Characteristic.String(), "want DeviceType, DeviceModel, DeviceOS or UserAgent")
			ok = false
		}
		if !r.Access.Valid() {
			bad(f+".Access", r.Access.String(), "want allow, block or quarantine")
			ok = false
		}
		if !ok {
			continue
		}
		name := trimSpace(r.Name)
		if name == "" {
			name = r.Characteristic.String() + "=" + trimSpace(r.Query)
		}
		p.abq[levelOf(r.Access)][r.Characteristic-1].add(r.Query, name)
		p.hasRules = true
	}

	switch {
	case cfg.DefaultAccess == 0:
		p.defAcc = Allow
	case cfg.DefaultAccess.Valid():
		p.defAcc = cfg.DefaultAccess
	default:
		bad("DefaultAccess", cfg.DefaultAccess.String(), "want allow, block or quarantine")
	}
	p.defRule = "DefaultAccess=" + p.defAcc.String()

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// levelOf orders ABQ actions as Exchange evaluates them: Block, then
// Quarantine, then Allow.
func levelOf(a Action) int {
	switch a {
	case Block:
		return 0
	case Quarantine:
		return 1
	}
	return 2
}

var abqLevels = [3]struct {
	action Action
	reason Reason
}{
	{Block, ReasonABQBlock},
	{Quarantine, ReasonABQQuarantine},
	{Allow, ReasonABQAllow},
}

func splitUserTrim(u string) (account, domain string) {
	a, d := eas.SplitUser(trimSpace(u))
	return trimSpace(a), trimSpace(d)
}
