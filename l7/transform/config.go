package transform

import (
	"errors"
	"fmt"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
)

// Config is the email security configuration: the configuration file's
// transforms section, and the document device management pushes to PUT
// /v1/transforms or carries in a pull page (the same fields, as JSON).
// Both are read through these types' tags by package cmd/enforcer/config
// (yaml: the key; check, example, required, default, local: the file's
// syntax, see its fields.go), checked by [Config.Validate], and compiled
// by [Build]. A new setting is one field with its doc comment and tags
// in the library that owns it (links, attach, classify, or here).
type Config struct {
	// Enabled applies the transforms. Default true when the section is
	// present; absent: none, and responses pass untouched.
	Enabled bool `yaml:"enabled" default:"true"`
	// SMIMEPassThrough keeps S/MIME signatures intact: signed content
	// passes byte for byte unless classified or carrying an attachment to
	// block or encrypt (then replaced by the notice); encrypted S/MIME gets
	// the unknown attachment rule (REFERENCE.md). Default true.
	SMIMEPassThrough bool `yaml:"smime_pass_through" default:"true"`
	// Links rewrites links to open in the managed secure browser; nil: off.
	Links *LinkRules `yaml:"links"`
	// Attachments is the attachment policy; nil: every attachment allowed.
	Attachments *AttachmentRules `yaml:"attachments"`
	// Classification blocks classified mail for unapproved clients; nil:
	// off.
	Classification *classify.Config `yaml:"classification"`
}

// LinkRules configure link rewriting: the rewriter's own configuration
// and where more domains come from.
type LinkRules struct {
	links.Config `yaml:",inline"`
	// DomainsFile is a CSV file of more domains (first column), read by
	// Build. Default "". Not in a document from device management.
	DomainsFile string `yaml:"domains_file" check:"path" local:"a document from device management may not name files (the gateway would read them as root); put the domains inline in domains"`
	// Unmanaged rewrites links for unmanaged devices too. Default false:
	// only managed devices have the secure browser.
	Unmanaged bool `yaml:"unmanaged"`
}

// AttachmentRules configure the attachment policy and its key.
type AttachmentRules struct {
	attach.Policy `yaml:",inline"`
	// KeyFile holds the master secret the device-user keys of encrypted
	// attachments derive from; created on first use. Default
	// <state_dir>/attachment.key ([AttachmentKeyFile]). Not in a document
	// from device management.
	KeyFile string `yaml:"key_file" check:"path" local:"a document from device management may not name files (the gateway would read or create them as root); remove key_file: the key comes from the gateway's state directory"`
}

// AttachmentKeyFile is the default master secret file in the state
// directory.
const AttachmentKeyFile = "attachment.key"

// ConfigError is a problem [Config.Validate] found: Field is the field's
// key path in the document ("links.domains").
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Problem }

// FieldProblem returns the field's key path and the problem, for a
// reader that reports them at the field's place in the document.
func (e *ConfigError) FieldProblem() (string, string) { return e.Field, e.Problem }

// Validate checks what can be checked without reading files: the rules
// that tie fields together. Build checks the rest. A non-nil error joins
// *ConfigError values.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if l := c.Links; l != nil && l.Mode == links.Include && len(l.Domains) == 0 && l.DomainsFile == "" {
		bad("links.domains", "mode include rewrites only links to listed domains, and none are listed; list domains (or a domains_file)")
	}
	if a := c.Attachments; a != nil {
		for _, kind := range []struct {
			name string
			set  attach.RuleSet
		}{{"managed", a.Managed}, {"unmanaged", a.Unmanaged}} {
			for i, r := range kind.set.Rules {
				if len(r.Extensions) == 0 && len(r.ContentTypes) == 0 {
					bad(fmt.Sprintf("attachments.%s.rules[%d]", kind.name, i), "matches nothing: give extensions or content_types")
				}
			}
		}
	}
	return errors.Join(errs...)
}
