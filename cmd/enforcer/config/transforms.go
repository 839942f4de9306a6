package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/mailgate/enforcer/l7/transform"
)

// transforms reads the transforms section (or a document from device
// management) into transform.Config, whose fields and their checks the
// transform packages declare.
func (p *parser) transforms(n *yaml.Node, field string) transform.Config {
	var t transform.Config
	if _, ok := p.decode(n, field, &t); ok && t.Enabled {
		p.libraryProblems(t.Validate(), n, field)
	}
	if !t.Enabled {
		return transform.Config{}
	}
	return t
}

// ParseTransforms parses a transforms section on its own, as YAML or JSON,
// from a local file: the fields that name files (links.domains_file,
// attachments.key_file) are allowed. name is used in problem reports. A
// non-nil error is an *Error.
func ParseTransforms(name string, data []byte) (transform.Config, error) {
	return parseTransforms(name, data, false)
}

// ParseRemoteTransforms parses an email security document from device
// management (pushed to PUT /v1/transforms or carried by a pull page, as
// JSON): as ParseTransforms, but a document that names a file is refused,
// field by field. The daemon runs as root: a remote document naming
// /etc/shadow as its domain list, or a new key file, would have the
// gateway read or create that file. A non-nil error is an *Error.
func ParseRemoteTransforms(name string, data []byte) (transform.Config, error) {
	return parseTransforms(name, data, true)
}

func parseTransforms(name string, data []byte, remote bool) (transform.Config, error) {
	p := &parser{file: name, remote: remote}
	root, ok := p.document(data)
	if !ok {
		return transform.Config{}, p.err()
	}
	t := p.transforms(root, "transforms")
	if len(p.problems) > 0 {
		return transform.Config{}, p.err()
	}
	return t, nil
}
