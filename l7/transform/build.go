package transform

import (
	"fmt"
	"path/filepath"

	"github.com/mailgate/enforcer/l7/configfile"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
)

// Build compiles cfg into the rules the proxy applies; nil when it is
// off. It reads links.domains_file and reads (or creates) the attachment
// key, by default in stateDir. Errors name the field by its key under
// "transforms.".
func Build(cfg Config, stateDir string) (*Rules, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	r := &Rules{SMIMEPassThrough: cfg.SMIMEPassThrough}
	if l := cfg.Links; l != nil {
		lc := l.Config
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
			lc.Domains = append(append([]string(nil), lc.Domains...), more...)
		}
		var err error
		if r.Links, err = links.New(lc); err != nil {
			return nil, fmt.Errorf("transforms.links: %w", err)
		}
		r.LinksUnmanaged = l.Unmanaged
	}
	if a := cfg.Attachments; a != nil {
		pol := a.Policy
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("transforms.attachments: %w", err)
		}
		r.Attachments = &pol
		keyFile := a.KeyFile
		if keyFile == "" {
			keyFile = filepath.Join(stateDir, AttachmentKeyFile)
		}
		var err error
		if r.Master, err = attach.LoadOrCreateMaster(keyFile); err != nil {
			return nil, fmt.Errorf("transforms.attachments.key_file: %w", err)
		}
	}
	if c := cfg.Classification; c != nil {
		var err error
		if r.Classifier, err = classify.New(*c); err != nil {
			return nil, fmt.Errorf("transforms.classification: %w", err)
		}
	}
	return r, nil
}
