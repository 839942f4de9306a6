package attach

import (
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Action is what the gateway does with an attachment.
type Action uint8

// The actions, from the mildest to the strictest. The zero Action is Allow.
const (
	// Allow passes the attachment to the device unchanged.
	Allow Action = iota
	// Block removes the attachment and leaves [Policy.BlockedNotice] in
	// its place.
	Block
	// Encrypt replaces the attachment by its encryption under the
	// device-user key (see FORMAT.md).
	Encrypt
)

// ErrBadAction is wrapped by [ParseAction] and [Action.UnmarshalText] for a
// name that is not an action.
var ErrBadAction = errors.New("unknown attachment action")

var actionNames = [...]string{Allow: "allow", Block: "block", Encrypt: "encrypt"}

// String returns the action's configuration name: allow, block or encrypt.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Valid reports whether a is one of the defined actions.
func (a Action) Valid() bool { return int(a) < len(actionNames) }

// Stricter returns the stricter of a and b (Block > Encrypt > Allow): when
// one attachment is named twice, the strictest verdict over its names wins.
func Stricter(a, b Action) Action {
	rank := func(x Action) int {
		switch x {
		case Block:
			return 2
		case Encrypt:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// ParseAction reads an action name, ignoring case and surrounding space.
func ParseAction(s string) (Action, error) {
	t := strings.TrimSpace(s)
	for i, n := range actionNames {
		if strings.EqualFold(t, n) {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: want allow, block or encrypt", ErrBadAction, s)
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("%w %d", ErrBadAction, uint8(a))
	}
	return []byte(actionNames[a]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Rule gives an action to the attachments it matches.
type Rule struct {
	// Extensions are file name extensions, compared without regard to
	// case, with or without the leading dot: "pdf", ".DOCX", "tar.gz".
	// A file matches when its name ends in "." + extension.
	Extensions []string `yaml:"extensions,omitempty" json:"extensions,omitempty" example:"[pdf, docx]"`
	// ContentTypes are media types, "application/pdf", or a whole top
	// level type, "image/*"; "*/*" matches every type. Parameters of the
	// attachment's type are ignored.
	ContentTypes []string `yaml:"content_types,omitempty" json:"content_types,omitempty" example:"[\"application/pdf\", \"image/*\"]"`
	// Action is applied to a matching attachment. Default: allow.
	Action Action `yaml:"action" json:"action" check:"enum an attachment action: allow, block, encrypt" required:"required: allow, block or encrypt"`
}

// RuleSet is an ordered list of rules. The first rule that matches an
// attachment decides; an attachment no rule matches gets Default.
//
// A rule matches on either of its lists: a file name extension OR a
// content type. Senders choose both, so a rule meant to stop a kind of
// file should name its extensions and its media types.
type RuleSet struct {
	// Rules are tried in order; the first match wins.
	Rules []Rule `yaml:"rules,omitempty" json:"rules,omitempty" example:"[{extensions: [exe, js], action: block}]"`
	// Default applies when no rule matches. Default: allow.
	Default Action `yaml:"default" json:"default" check:"enum an attachment action: allow, block, encrypt"`
}

// DefaultBlockedNotice is shown where an attachment was removed when
// [Policy.BlockedNotice] is empty.
const DefaultBlockedNotice = "An attachment was removed from this message by your organisation's mail gateway."

// Policy is the attachment policy, separately for devices under device
// management and for the others.
type Policy struct {
	// Managed applies to managed devices. Default: allow everything.
	Managed RuleSet `yaml:"managed" json:"managed"`
	// Unmanaged applies to unmanaged devices. Default: allow everything.
	Unmanaged RuleSet `yaml:"unmanaged" json:"unmanaged"`
	// BlockedNotice is the text put where an attachment was removed.
	// Default: DefaultBlockedNotice.
	BlockedNotice string `yaml:"blocked_notice,omitempty" json:"blocked_notice,omitempty"`
}

// Notice returns BlockedNotice or, when it is empty, DefaultBlockedNotice.
func (p *Policy) Notice() string {
	if p == nil || strings.TrimSpace(p.BlockedNotice) == "" {
		return DefaultBlockedNotice
	}
	return p.BlockedNotice
}

// Decide returns the action for an attachment named filename (may be
// empty) of the declared contentType (may be empty or carry parameters).
// A nil Policy allows everything.
func (p *Policy) Decide(managed bool, filename, contentType string) Action {
	if p == nil {
		return Allow
	}
	rs := &p.Unmanaged
	if managed {
		rs = &p.Managed
	}
	return rs.Decide(filename, contentType)
}

// Unknown returns the action for an attachment whose name and type the
// gateway cannot know: a download it never saw listed (or listed before
// it started, or forgotten), the content of encrypted S/MIME. It is
// [RuleSet.Strictest] of the device kind's rule set. A nil Policy allows.
func (p *Policy) Unknown(managed bool) Action {
	if p == nil {
		return Allow
	}
	if managed {
		return p.Managed.Strictest()
	}
	return p.Unmanaged.Strictest()
}

// Strictest returns the strictest action the rule set gives any
// attachment: of Default and every rule's action. An attachment of
// unknown name and type could match any rule, so this is the only
// decision that is never milder than the one it would get if known.
func (rs *RuleSet) Strictest() Action {
	a := rs.Default
	for _, r := range rs.Rules {
		a = Stricter(a, r.Action)
	}
	return a
}

// Decide returns the action of the first rule matching the attachment, or
// Default.
func (rs *RuleSet) Decide(filename, contentType string) Action {
	name := normalizeFilename(filename)
	ct := normalizeType(contentType)
	for i := range rs.Rules {
		if rs.Rules[i].matches(name, ct) {
			return rs.Rules[i].Action
		}
	}
	return rs.Default
}

func (r *Rule) matches(name, ct string) bool {
	if name != "" {
		for _, e := range r.Extensions {
			e = normalizeExt(e)
			if e != "" && len(name) > len(e) && name[len(name)-len(e)-1] == '.' && strings.HasSuffix(name, e) {
				return true
			}
		}
	}
	if ct != "" {
		for _, p := range r.ContentTypes {
			if typeMatches(strings.ToLower(strings.TrimSpace(p)), ct) {
				return true
			}
		}
	}
	return false
}

// normalizeFilename lower-cases a file name and drops the trailing dots
// and spaces that Windows strips when it opens a file ("report.exe. " runs
// as report.exe; see "Naming Files, Paths, and Namespaces" in the Win32
// documentation), so that they cannot hide an extension.
func normalizeFilename(s string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), ". \t"))
}

func normalizeExt(e string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(e), "."))
}

// normalizeType returns the lower-case media type without parameters.
func normalizeType(s string) string {
	if t, _, err := mime.ParseMediaType(s); err == nil || t != "" {
		return t
	}
	t, _, _ := strings.Cut(s, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

func typeMatches(pattern, ct string) bool {
	switch {
	case pattern == "*/*" || pattern == "*":
		return true
	case strings.HasSuffix(pattern, "/*"):
		return strings.HasPrefix(ct, pattern[:len(pattern)-1])
	}
	return pattern == ct
}

// Validate checks every rule and action; its error names the field, for
// example "unmanaged.rules[2].content_types[0]".
func (p *Policy) Validate() error {
	var errs []error
	errs = append(errs, p.Managed.validate("managed")...)
	errs = append(errs, p.Unmanaged.validate("unmanaged")...)
	return errors.Join(errs...)
}

func (rs *RuleSet) validate(where string) []error {
	var errs []error
	if !rs.Default.Valid() {
		errs = append(errs, fmt.Errorf("%s.default: %w %d", where, ErrBadAction, uint8(rs.Default)))
	}
	for i, r := range rs.Rules {
		at := fmt.Sprintf("%s.rules[%d]", where, i)
		if !r.Action.Valid() {
			errs = append(errs, fmt.Errorf("%s.action: %w %d", at, ErrBadAction, uint8(r.Action)))
		}
		if len(r.Extensions) == 0 && len(r.ContentTypes) == 0 {
			errs = append(errs, fmt.Errorf("%s: a rule needs extensions or content_types; use %s.default to act on everything", at, where))
		}
		for j, e := range r.Extensions {
			n := normalizeExt(e)
			if n == "" || strings.ContainsAny(n, "/\\*?; \t") || strings.HasSuffix(n, ".") {
				errs = append(errs, fmt.Errorf("%s.extensions[%d]: %q is not a file name extension (want e.g. \"pdf\" or \".docx\")", at, j, e))
			}
		}
		for j, c := range r.ContentTypes {
			if !validTypePattern(strings.ToLower(strings.TrimSpace(c))) {
				errs = append(errs, fmt.Errorf("%s.content_types[%d]: %q is not a media type (want e.g. \"application/pdf\" or \"image/*\")", at, j, c))
			}
		}
	}
	return errs
}

func validTypePattern(p string) bool {
	if p == "*/*" || p == "*" {
		return true
	}
	top, sub, ok := strings.Cut(p, "/")
	if !ok || !isToken(top) || top == "*" {
		return false
	}
	return sub == "*" || isToken(sub)
}

// isToken reports whether s is an RFC 2045 section 5.1 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=*`, c) >= 0 {
			return false
		}
	}
	return true
}
