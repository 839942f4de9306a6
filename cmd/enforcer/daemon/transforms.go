package daemon

import (
	"fmt"
	"path/filepath"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/l7/configfile"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
)

// AttachmentKeyFile is the default master secret file in the state
// directory.
const AttachmentKeyFile = "attachment.key"

// buildTransforms compiles a transforms section; nil when it is off.
func buildTransforms(t config.Transforms, stateDir string) (*transform.Rules, error) {
	if !t.Enabled {
		return nil, nil
	}
	r := &transform.Rules{SMIMEPassThrough: t.SMIMEPassThrough}
	if l := t.Links; l != nil {
		mode, err := links.ParseMode(l.Mode)
		if err != nil {
			return nil, fmt.Errorf("transforms.links.mode: %w", err)
		}
		domains := l.Domains
		if l.DomainsFile != "" {
			f, err := configfile.OpenLimited(l.DomainsFile, configfile.MaxListBytes)
			if err != nil {
				return nil, fmt.Errorf("transforms.links.domains_file: %w", err)
			}
			more, err := links.ReadDomainsCSV(f, l.DomainsFile)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("transforms.links.domains_file: %w", err)
			}
			domains = append(append([]string(nil), domains...), more...)
		}
		if r.Links, err = links.New(links.Config{HTTPScheme: l.HTTPScheme, HTTPSScheme: l.HTTPSScheme, Mode: mode, Domains: domains}); err != nil {
			return nil, fmt.Errorf("transforms.links: %w", err)
		}
		r.LinksUnmanaged = l.Unmanaged
	}
	if a := t.Attachments; a != nil {
		pol := &attach.Policy{BlockedNotice: a.BlockedNotice}
		var err error
		if pol.Managed, err = ruleSet(a.Managed, "transforms.attachments.managed"); err != nil {
			return nil, err
		}
		if pol.Unmanaged, err = ruleSet(a.Unmanaged, "transforms.attachments.unmanaged"); err != nil {
			return nil, err
		}
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("transforms.attachments: %w", err)
		}
		r.Attachments = pol
		keyFile := a.KeyFile
		if keyFile == "" {
			keyFile = filepath.Join(stateDir, AttachmentKeyFile)
		}
		if r.Master, err = attach.LoadOrCreateMaster(keyFile); err != nil {
			return nil, fmt.Errorf("transforms.attachments.key_file: %w", err)
		}
	}
	if c := t.Classification; c != nil {
		cc := classify.Config{SubjectMarkers: c.SubjectMarkers, Headers: c.Headers, Template: c.Template}
		for _, rule := range c.Rules {
			approved, err := classify.ParseAction(rule.Approved)
			if err != nil {
				return nil, fmt.Errorf("transforms.classification: %w", err)
			}
			others, err := classify.ParseAction(rule.Others)
			if err != nil {
				return nil, fmt.Errorf("transforms.classification: %w", err)
			}
			cc.Rules = append(cc.Rules, classify.Rule{Tag: rule.Tag, ApprovedClients: rule.ApprovedClients, Approved: approved, Others: others})
		}
		var err error
		if r.Classifier, err = classify.New(cc); err != nil {
			return nil, fmt.Errorf("transforms.classification: %w", err)
		}
	}
	return r, nil
}

func ruleSet(s config.AttachmentSet, field string) (attach.RuleSet, error) {
	def, err := attach.ParseAction(s.Default)
	if err != nil {
		return attach.RuleSet{}, fmt.Errorf("%s.default: %w", field, err)
	}
	rs := attach.RuleSet{Default: def}
	for i, r := range s.Rules {
		a, err := attach.ParseAction(r.Action)
		if err != nil {
			return attach.RuleSet{}, fmt.Errorf("%s.rules[%d].action: %w", field, i, err)
		}
		rs.Rules = append(rs.Rules, attach.Rule{Extensions: r.Extensions, ContentTypes: r.ContentTypes, Action: a})
	}
	return rs, nil
}
