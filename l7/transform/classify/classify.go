// Package classify finds the classification tags of a mail message (a
// marker in its subject such as "[CONFIDENTIAL]", or a header such as
// X-Classification) and decides whether a mail client may show it: the
// reference gateway's "email security classification" policy. Mail
// carrying a tag whose rule blocks the device's mail client has its body
// replaced by a notice rendered from a template.
//
// A [Classifier] is built once from a [Config] by [New] and is safe for
// concurrent use. Per message, [Classifier.Tags] finds the tags,
// [Classifier.Decide] applies the rules for a User-Agent, and
// [Classifier.Notice] renders the replacement body of a block.
//
// It must not know EAS, WBXML, MIME or the proxy: package transform calls
// it.
package classify

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/transform/mime"
)

// ErrInvalidConfig is wrapped by every error of [New], [ParseAction] and
// [Action.UnmarshalText].
var ErrInvalidConfig = errors.New("invalid classification config")

// Action is what a rule does with a tagged message for a mail client.
// The zero Action stands for the field's default.
type Action uint8

// Actions.
const (
	// Allow delivers the message as it is.
	Allow Action = iota + 1
	// Block replaces the message's body with the notice.
	Block
)

var actionNames = [...]string{"", "allow", "block"}

// String returns "allow" or "block" ("" for the zero Action).
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction reads "allow" or "block", ignoring case and surrounding
// space; "" is the zero Action (the default).
func ParseAction(s string) (Action, error) {
	t := strings.TrimSpace(s)
	for i, n := range actionNames {
		if strings.EqualFold(t, n) {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("classification action %q: want allow or block: %w", s, ErrInvalidConfig)
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) {
	if int(a) >= len(actionNames) {
		return nil, fmt.Errorf("classification action %d: %w", uint8(a), ErrInvalidConfig)
	}
	return []byte(a.String()), nil
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

// Rule says who may read mail carrying one tag.
type Rule struct {
	// Tag is the tag the rule is about, compared without regard to case:
	// a subject marker as configured ("[CONFIDENTIAL]") or a header value
	// ("Confidential"). Required; each tag has at most one rule.
	Tag string `yaml:"tag" required:"required, e.g. {tag: CONFIDENTIAL, others: block}"`
	// ApprovedClients are the approved mail clients: patterns in which
	// '*' matches any run of characters and '?' one character, compared
	// without regard to case with the mail client's product name (the
	// User-Agent up to its first '/' or space: "Outlook-iOS-Android" of
	// "Outlook-iOS-Android/1.0") or with the whole User-Agent. Default
	// none: every client is one of the Others.
	ApprovedClients []string `yaml:"approved_clients" example:"[\"Outlook-iOS*\"]"`
	// Approved is the action for approved clients. Default Allow.
	Approved Action `yaml:"approved" check:"enum an action: allow, block" default:"allow"`
	// Others is the action for every other client, and for requests
	// without a User-Agent. Default Block.
	Others Action `yaml:"others" check:"enum an action: allow, block" default:"block"`
}

// Config is the classification policy.
type Config struct {
	// SubjectMarkers are texts whose presence anywhere in the Subject
	// tags a message with the marker, as configured (surrounding space
	// trimmed): "[CONFIDENTIAL]". Matched without regard to case
	// (Unicode lower case). Default none.
	SubjectMarkers []string `yaml:"subject_markers" example:"[\"[CONFIDENTIAL]\"]"`
	// Headers are the MIME header fields whose values are tags:
	// "X-Classification". A name ending in '*' is a prefix and takes
	// every field whose name starts with it ("MSIP_Label_*"). Names are
	// compared without regard to case. Each value is one tag, its
	// RFC 2047 encoded words decoded (UTF-8, ISO-8859-1 and US-ASCII
	// ones), whitespace runs folded to one space, surrounding space
	// trimmed. Default none.
	Headers []string `yaml:"headers" example:"[X-Classification]"`
	// Rules are applied in order: the first rule that blocks a tag of
	// the message for its client decides. Default none: nothing is
	// blocked, Tags still reports tags.
	Rules []Rule `yaml:"rules" example:"[{tag: CONFIDENTIAL, approved_clients: [\"Outlook-iOS*\"], others: block}]"`
	// Template is the notice that replaces a blocked message's body: a
	// text/template over .Tag (the blocking tag as found in the message),
	// .Subject (the message's subject) and .Client (the mail client's
	// product name, or "unknown"); rendered as plain UTF-8 text. Default
	// [DefaultTemplate].
	Template string `yaml:"template"`
}

// DefaultTemplate is the notice used when Config.Template is empty.
const DefaultTemplate = `This message is classified {{.Tag}} and cannot be shown in this mail app ({{.Client}}).

Subject: {{.Subject}}

Open it in an approved mail app, or ask your IT help desk for access.
`

// MaxTags bounds the tags Tags reports for one message: a message with
// thousands of classification header fields costs no more than one with
// a few.
const MaxTags = 32

// Classifier applies a classification policy. Build it with [New].
type Classifier struct {
	markers  []marker
	exact    []string // canonical header names
	prefixes []string // lower-case header name prefixes
	rules    []rule
	tmpl     *template.Template
}

type marker struct{ text, lower string }

type rule struct {
	tag              string
	clients          []string // lower-case patterns
	approved, others Action
}

// New checks cfg and returns its classifier. Errors wrap
// [ErrInvalidConfig] and name the field at fault.
func New(cfg Config) (*Classifier, error) {
	c := &Classifier{}
	bad := func(field, value, problem string) error {
		return fmt.Errorf("classify: %s %q: %s: %w", field, value, problem, ErrInvalidConfig)
	}
	for i, m := range cfg.SubjectMarkers {
		t := strings.TrimSpace(m)
		if t == "" || !utf8.ValidString(t) {
			return nil, bad(fmt.Sprintf("SubjectMarkers[%d]", i), m, "empty or not UTF-8")
		}
		c.markers = append(c.markers, marker{text: t, lower: strings.ToLower(t)})
	}
	for i, h := range cfg.Headers {
		name, prefix := strings.CutSuffix(strings.TrimSpace(h), "*")
		if name == "" || !validFieldName(name) {
			return nil, bad(fmt.Sprintf("Headers[%d]", i), h,
				"not a header field name (RFC 5322 2.2: printable ASCII but ':' and space; '*' only at the end, after a prefix)")
		}
		if prefix {
			c.prefixes = append(c.prefixes, strings.ToLower(name))
		} else {
			c.exact = append(c.exact, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	for i, r := range cfg.Rules {
		f := fmt.Sprintf("Rules[%d]", i)
		t := strings.TrimSpace(r.Tag)
		if t == "" || !utf8.ValidString(t) {
			return nil, bad(f+".Tag", r.Tag, "empty or not UTF-8")
		}
		for j, prev := range c.rules {
			if strings.EqualFold(prev.tag, t) {
				return nil, bad(f+".Tag", r.Tag, fmt.Sprintf("Rules[%d] has the same tag: merge them", j))
			}
		}
		nr := rule{tag: t, approved: r.Approved, others: r.Others}
		if nr.approved == 0 {
			nr.approved = Allow
		}
		if nr.others == 0 {
			nr.others = Block
		}
		if nr.approved > Block {
			return nil, bad(f+".Approved", r.Approved.String(), "want allow or block")
		}
		if nr.others > Block {
			return nil, bad(f+".Others", r.Others.String(), "want allow or block")
		}
		for j, p := range r.ApprovedClients {
			p = strings.TrimSpace(p)
			if p == "" || !utf8.ValidString(p) {
				return nil, bad(fmt.Sprintf("%s.ApprovedClients[%d]", f, j), r.ApprovedClients[j], "empty or not UTF-8")
			}
			nr.clients = append(nr.clients, strings.ToLower(p))
		}
		c.rules = append(c.rules, nr)
	}
	if len(c.rules) > 0 && len(c.markers) == 0 && len(c.exact) == 0 && len(c.prefixes) == 0 {
		return nil, fmt.Errorf("classify: Rules without SubjectMarkers or Headers can never match: say where tags are: %w", ErrInvalidConfig)
	}
	src := cfg.Template
	if strings.TrimSpace(src) == "" {
		src = DefaultTemplate
	}
	t, err := template.New("notice").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("classify: Template: %w: %w", err, ErrInvalidConfig)
	}
	// A reference to a field that does not exist fails only when the
	// template runs: run it once here, on made-up values.
	if err := t.Execute(new(bytes.Buffer), noticeData{Tag: "Confidential", Subject: "Subject", Client: "Client"}); err != nil {
		return nil, fmt.Errorf("classify: Template: %w (fields: .Tag, .Subject, .Client): %w", err, ErrInvalidConfig)
	}
	c.tmpl = t
	return c, nil
}

// validFieldName reports whether s is a header field name: printable
// US-ASCII other than ':' (RFC 5322 2.2); '*', legal but only ever a
// typo for a pattern here, is refused.
func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' || s[i] == '*' {
			return false
		}
	}
	return true
}

// Tags returns the classification tags of a message with the given
// subject and header (canonical keys, as net/textproto.MIMEHeader keeps
// them; nil when only the subject is known, as for EAS mail that is not
// MIME): first the subject markers found, in configuration order, then
// header values, in the order of Config.Headers (prefix patterns: fields
// in name order). Duplicates (compared without regard to case) are
// dropped; at most [MaxTags] are returned. A subject with RFC 2047 encoded
// words is decoded first.
func (c *Classifier) Tags(subject string, header map[string][]string) []string {
	var tags []string
	add := func(t string) {
		if len(tags) >= MaxTags || t == "" {
			return
		}
		for _, have := range tags {
			if strings.EqualFold(have, t) {
				return
			}
		}
		tags = append(tags, t)
	}
	if len(c.markers) > 0 && subject != "" {
		lower := strings.ToLower(mime.DecodeWords(subject))
		for _, m := range c.markers {
			if strings.Contains(lower, m.lower) {
				add(m.text)
			}
		}
	}
	if len(header) == 0 {
		return tags
	}
	for _, name := range c.exact {
		for _, v := range header[name] {
			add(headerTag(v))
		}
	}
	if len(c.prefixes) > 0 {
		var names []string
		for k := range header {
			for _, p := range c.prefixes {
				if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
					names = append(names, k)
					break
				}
			}
		}
		slices.Sort(names)
		for _, k := range names {
			for _, v := range header[k] {
				add(headerTag(v))
			}
		}
	}
	return tags
}

// maxValue bounds the header value taken as a tag; a longer one is
// cut there (no rule tag is that long).
const maxValue = 1024

// headerTag turns a header field value into a tag: encoded words
// decoded, folding and other whitespace runs made one space, trimmed.
func headerTag(v string) string {
	if len(v) > maxValue {
		v = v[:maxValue]
	}
	return strings.Join(strings.Fields(mime.DecodeWords(v)), " ")
}

// Decision is the outcome of [Classifier.Decide].
type Decision struct {
	// Block is whether the message is blocked.
	Block bool
	// Tag is the tag of the deciding rule as found in the message: the
	// blocking one, or else the first tag any rule matched; "" when no
	// rule matched.
	Tag string
	// Rule is the index in Config.Rules of that rule; -1 when no rule
	// matched.
	Rule int
}

// Decide applies the rules, in order, to a message's tags for the mail
// client named by userAgent: the first rule whose tag the message
// carries and whose action for this client is Block blocks it. A message
// no rule blocks is allowed.
func (c *Classifier) Decide(tags []string, userAgent string) Decision {
	d := Decision{Rule: -1}
	if len(tags) == 0 {
		return d
	}
	var ua, product string
	folded := false
	for i := range c.rules {
		r := &c.rules[i]
		var found string
		for _, t := range tags {
			if strings.EqualFold(t, r.tag) {
				found = t
				break
			}
		}
		if found == "" {
			continue
		}
		if !folded {
			ua = strings.ToLower(strings.TrimSpace(userAgent))
			product = device.Identity{UserAgent: ua}.MailClient()
			folded = true
		}
		act := r.others
		if ua != "" && r.approves(ua, product) {
			act = r.approved
		}
		if act == Block {
			return Decision{Block: true, Tag: found, Rule: i}
		}
		if d.Rule < 0 {
			d = Decision{Tag: found, Rule: i}
		}
	}
	return d
}

func (r *rule) approves(ua, product string) bool {
	for _, p := range r.clients {
		if device.Match(p, product) || device.Match(p, ua) {
			return true
		}
	}
	return false
}

type noticeData struct {
	Tag, Subject, Client string
}

// Notice renders the notice that replaces the body of a message blocked
// by d: plain text, UTF-8. The subject is decoded (RFC 2047), invalid
// UTF-8 replaced with U+FFFD and control characters with spaces, so the
// notice is one clean line of it whatever the sender wrote.
func (c *Classifier) Notice(d Decision, subject, userAgent string) []byte {
	client := device.Identity{UserAgent: userAgent}.MailClient()
	if client == "" {
		client = "unknown"
	}
	data := noticeData{Tag: clean(d.Tag), Subject: clean(mime.DecodeWords(subject)), Client: clean(client)}
	var b bytes.Buffer
	if err := c.tmpl.Execute(&b, data); err != nil {
		// New ran the template once, so this takes a template that fails
		// on some values only; the default never does.
		b.Reset()
		_ = defaultNotice.Execute(&b, data)
	}
	return bytes.ToValidUTF8(b.Bytes(), []byte("\uFFFD"))
}

var defaultNotice = template.Must(template.New("notice").Parse(DefaultTemplate))

// clean makes s valid UTF-8 on one line.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
