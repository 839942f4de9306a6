package config

import (
	"go.yaml.in/yaml/v3"
)

// Transforms configures the email security the proxy applies to mail
// going to devices (package l7/transform). The section absent: none, and
// responses pass untouched.
type Transforms struct {
	// Enabled applies the transforms. Default true when the section is
	// present.
	Enabled bool
	// SMIMEPassThrough keeps S/MIME signatures intact: signed content
	// passes byte for byte unless classified or carrying an attachment to
	// block or encrypt (then replaced by the notice); encrypted S/MIME gets
	// the unknown attachment rule (REFERENCE.md). Default true.
	SMIMEPassThrough bool
	// Links rewrites links to open in the managed secure browser; nil: off.
	Links *LinkRules
	// Attachments is the attachment policy; nil: every attachment allowed.
	Attachments *AttachmentRules
	// Classification blocks classified mail for unapproved clients; nil:
	// off.
	Classification *ClassificationRules
}

// LinkRules configure link rewriting.
type LinkRules struct {
	// Mode is all, include (only links to Domains) or exclude (all but
	// Domains). Default all.
	Mode string
	// HTTPScheme and HTTPSScheme replace http and https in rewritten links.
	// Required.
	HTTPScheme  string
	HTTPSScheme string
	// Domains match themselves and their subdomains. Default empty.
	Domains []string
	// DomainsFile is a CSV file of more domains (first column). Default "".
	DomainsFile string
	// Unmanaged rewrites links for unmanaged devices too. Default false:
	// only managed devices have the secure browser.
	Unmanaged bool
}

// AttachmentRules configure the attachment policy.
type AttachmentRules struct {
	// Managed and Unmanaged are the rules for each kind of device.
	Managed, Unmanaged AttachmentSet
	// BlockedNotice is shown where attachments were removed. Default: the
	// transform's built-in sentence.
	BlockedNotice string
	// KeyFile holds the master secret the device-user keys of encrypted
	// attachments derive from; created on first use. Default
	// <state_dir>/attachment.key.
	KeyFile string
}

// AttachmentSet is the rules of one kind of device: the first rule that
// matches decides; Default decides the rest.
type AttachmentSet struct {
	Rules   []AttachmentRule
	Default string // allow (default), block or encrypt
}

// AttachmentRule matches attachments by extension or content type.
type AttachmentRule struct {
	Extensions   []string
	ContentTypes []string
	Action       string // allow, block or encrypt
}

// ClassificationRules configure classification blocking.
type ClassificationRules struct {
	SubjectMarkers []string
	Headers        []string
	Rules          []ClassificationRule
	// Template replaces a blocked message's body (text/template with
	// .Tag, .Subject, .Client). Default: the transform's built-in notice.
	Template string
}

// ClassificationRule is what a tag means for approved and other clients.
type ClassificationRule struct {
	Tag             string
	ApprovedClients []string
	Approved        string // allow (default) or block
	Others          string // allow or block (default)
}

var actions = []string{"allow", "block", "encrypt"}

func (p *parser) transforms(n *yaml.Node, field string) Transforms {
	t := Transforms{Enabled: true, SMIMEPassThrough: true}
	p.mapping(n, field, []fieldSpec{
		{"enabled", func(v *yaml.Node, f string) { t.Enabled, _ = p.boolean(v, f) }},
		{"smime_pass_through", func(v *yaml.Node, f string) { t.SMIMEPassThrough, _ = p.boolean(v, f) }},
		{"links", func(v *yaml.Node, f string) {
			l := &LinkRules{Mode: "all"}
			keys, _ := p.mapping(v, f, []fieldSpec{
				{"mode", func(v *yaml.Node, f string) {
					setStr(&l.Mode)(p.enum(v, f, "a link mode", "all", "include", "exclude"))
				}},
				{"http_scheme", func(v *yaml.Node, f string) { setStr(&l.HTTPScheme)(p.str(v, f)) }},
				{"https_scheme", func(v *yaml.Node, f string) { setStr(&l.HTTPSScheme)(p.str(v, f)) }},
				{"domains", func(v *yaml.Node, f string) { l.Domains = p.strings(v, f, "[example.com, intranet.example]") }},
				{"domains_file", func(v *yaml.Node, f string) {
					if p.remote {
						p.addf(v, f, "a document from device management may not name files (the gateway would read them as root); put the domains inline in domains")
						return
					}
					setStr(&l.DomainsFile)(p.absPath(v, f, true))
				}},
				{"unmanaged", func(v *yaml.Node, f string) { l.Unmanaged, _ = p.boolean(v, f) }},
			})
			for _, k := range []string{"http_scheme", "https_scheme"} {
				if keys[k] == nil && !p.reported(join(f, k)) {
					p.addf(deref(v), join(f, k), "required: the secure browser's scheme, e.g. http_scheme: mibrowser, https_scheme: mibrowsers")
				}
			}
			if l.Mode == "include" && len(l.Domains) == 0 && l.DomainsFile == "" && !p.reported(join(f, "domains_file")) {
				p.addf(keyOr(keys, "mode", v), join(f, "domains"), "mode include rewrites only links to listed domains, and none are listed; list domains (or a domains_file)")
			}
			t.Links = l
		}},
		{"attachments", func(v *yaml.Node, f string) {
			a := &AttachmentRules{Managed: AttachmentSet{Default: "allow"}, Unmanaged: AttachmentSet{Default: "allow"}}
			p.mapping(v, f, []fieldSpec{
				{"managed", func(v *yaml.Node, f string) { a.Managed = p.attachmentSet(v, f) }},
				{"unmanaged", func(v *yaml.Node, f string) { a.Unmanaged = p.attachmentSet(v, f) }},
				{"blocked_notice", func(v *yaml.Node, f string) { setStr(&a.BlockedNotice)(p.str(v, f)) }},
				{"key_file", func(v *yaml.Node, f string) {
					if p.remote {
						p.addf(v, f, "a document from device management may not name files (the gateway would read or create them as root); remove key_file: the key comes from the gateway's state directory")
						return
					}
					setStr(&a.KeyFile)(p.absPath(v, f, true))
				}},
			})
			t.Attachments = a
		}},
		{"classification", func(v *yaml.Node, f string) {
			c := &ClassificationRules{}
			p.mapping(v, f, []fieldSpec{
				{"subject_markers", func(v *yaml.Node, f string) { c.SubjectMarkers = p.strings(v, f, `["[CONFIDENTIAL]"]`) }},
				{"headers", func(v *yaml.Node, f string) { c.Headers = p.strings(v, f, "[X-Classification]") }},
				{"template", func(v *yaml.Node, f string) { setStr(&c.Template)(p.str(v, f)) }},
				{"rules", func(v *yaml.Node, f string) {
					items, _ := p.list(v, f, `[{tag: CONFIDENTIAL, approved_clients: ["Outlook-iOS*"], others: block}]`)
					for i, item := range items {
						r := ClassificationRule{Approved: "allow", Others: "block"}
						keys, _ := p.mapping(item, index(f, i), []fieldSpec{
							{"tag", func(v *yaml.Node, f string) { setStr(&r.Tag)(p.str(v, f)) }},
							{"approved_clients", func(v *yaml.Node, f string) { r.ApprovedClients = p.strings(v, f, `["Outlook-iOS*"]`) }},
							{"approved", func(v *yaml.Node, f string) { setStr(&r.Approved)(p.enum(v, f, "an action", "allow", "block")) }},
							{"others", func(v *yaml.Node, f string) { setStr(&r.Others)(p.enum(v, f, "an action", "allow", "block")) }},
						})
						if keys["tag"] == nil && !p.reported(index(f, i)) {
							p.addf(deref(item), join(index(f, i), "tag"), "required, e.g. {tag: CONFIDENTIAL, others: block}")
						}
						c.Rules = append(c.Rules, r)
					}
				}},
			})
			t.Classification = c
		}},
	})
	if !t.Enabled {
		return Transforms{}
	}
	return t
}

func (p *parser) attachmentSet(n *yaml.Node, field string) AttachmentSet {
	s := AttachmentSet{Default: "allow"}
	p.mapping(n, field, []fieldSpec{
		{"default", func(v *yaml.Node, f string) { setStr(&s.Default)(p.enum(v, f, "an attachment action", actions...)) }},
		{"rules", func(v *yaml.Node, f string) {
			items, _ := p.list(v, f, `[{extensions: [exe, js], action: block}]`)
			for i, item := range items {
				r := AttachmentRule{}
				keys, _ := p.mapping(item, index(f, i), []fieldSpec{
					{"extensions", func(v *yaml.Node, f string) { r.Extensions = p.strings(v, f, "[pdf, docx]") }},
					{"content_types", func(v *yaml.Node, f string) { r.ContentTypes = p.strings(v, f, `["application/pdf", "image/*"]`) }},
					{"action", func(v *yaml.Node, f string) { setStr(&r.Action)(p.enum(v, f, "an attachment action", actions...)) }},
				})
				if keys["action"] == nil && !p.reported(index(f, i)) {
					p.addf(deref(item), join(index(f, i), "action"), "required: allow, block or encrypt")
				}
				if keys["extensions"] == nil && keys["content_types"] == nil && !p.reported(index(f, i)) {
					p.addf(deref(item), index(f, i), "matches nothing: give extensions or content_types")
				}
				s.Rules = append(s.Rules, r)
			}
		}},
	})
	return s
}

// ParseTransforms parses a transforms section on its own, as YAML or JSON,
// from a local file: the fields that name files (links.domains_file,
// attachments.key_file) are allowed. name is used in problem reports. A
// non-nil error is an *Error.
func ParseTransforms(name string, data []byte) (Transforms, error) {
	return parseTransforms(name, data, false)
}

// ParseRemoteTransforms parses an email security document from device
// management (pushed to PUT /v1/transforms or carried by a pull page, as
// JSON): as ParseTransforms, but a document that names a file is refused,
// field by field. The daemon runs as root: a remote document naming
// /etc/shadow as its domain list, or a new key file, would have the
// gateway read or create that file. A non-nil error is an *Error.
func ParseRemoteTransforms(name string, data []byte) (Transforms, error) {
	return parseTransforms(name, data, true)
}

func parseTransforms(name string, data []byte, remote bool) (Transforms, error) {
	p := &parser{file: name, remote: remote}
	root, ok := p.document(data)
	if !ok {
		return Transforms{}, p.err()
	}
	t := p.transforms(root, "transforms")
	if len(p.problems) > 0 {
		return Transforms{}, p.err()
	}
	return t, nil
}
