package config

import (
	"bytes"
	"net/netip"
	"reflect"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/transform"
)

// Marshal writes c as a configuration file with every field spelled out,
// defaults included: what the daemon runs with. Parse reads it back into
// an equal Config.
func (c *Config) Marshal() ([]byte, error) {
	// A derived service (proxy.protect_upstream) is the file's proxy
	// section, not one of its services.
	var fileServices []Service
	for _, s := range c.Services {
		if s.Derived == "" {
			fileServices = append(fileServices, s)
		}
	}
	root := mapping(
		"interfaces", seq(len(c.Interfaces), func(i int) *yaml.Node {
			ifc := c.Interfaces[i]
			return mapping("name", str(ifc.Name), "xdp_mode", str(string(ifc.XDPMode)))
		}),
		"state_dir", str(c.StateDir),
		"bpffs_dir", str(c.BPFFSDir),
		"geoip", mapping("database", str(c.GeoIP.Database), "required", boolean(c.GeoIP.Required)),
		"log", mapping("format", str(string(c.Log.Format)), "level", str(levelName(c.Log.Level))),
		"admin", mapping("socket", str(c.Admin.Socket), "listen", str(c.Admin.Listen), "hosts", strList(c.Admin.Hosts)),
		"metrics", mapping("listen", str(c.Metrics.Listen)),
		"proxy", proxyNode(c.Proxy),
		"devices", devicesNode(c.Devices),
		"transforms", transformsNode(c.Transforms),
		"deny", entryList(c.Deny),
		"services", seq(len(fileServices), func(i int) *yaml.Node {
			s := fileServices[i]
			m := mapping(
				"name", str(s.Name),
				"protocols", seq(len(s.Protocols), func(i int) *yaml.Node { return str(s.Protocols[i].String()) }),
				"ports", seq(len(s.Ports), func(i int) *yaml.Node {
					return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(int(s.Ports[i]))}
				}),
			)
			m.Content[3].Style, m.Content[5].Style = yaml.FlowStyle, yaml.FlowStyle
			if len(s.Destinations) > 0 {
				add(m, "destinations", seq(len(s.Destinations), func(i int) *yaml.Node { return prefix(s.Destinations[i]) }))
			}
			if len(s.Allow) > 0 {
				add(m, "allow", entryList(s.Allow))
			}
			if len(s.Countries) > 0 {
				cs := seq(len(s.Countries), func(i int) *yaml.Node { return str(s.Countries[i]) })
				cs.Style = yaml.FlowStyle
				add(m, "countries", cs)
			}
			add(m, "geofence", boolean(s.Geofence))
			if s.AdmitAll {
				add(m, "admit", str("all"))
			}
			add(m, "enabled", boolean(s.Enabled))
			return m
		}),
	)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func str(s string) *yaml.Node {
	// Tag !!str makes the encoder quote what would read back as another
	// type ("NO", "443", "").
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func prefix(p netip.Prefix) *yaml.Node { return str(p.String()) }

func seq(n int, item func(int) *yaml.Node) *yaml.Node {
	s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range n {
		s.Content = append(s.Content, item(i))
	}
	return s
}

func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i < len(kv); i += 2 {
		add(m, kv[i].(string), kv[i+1].(*yaml.Node))
	}
	return m
}

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, str(key), v)
}

func entryList(es []Entry) *yaml.Node {
	return seq(len(es), func(i int) *yaml.Node {
		if es[i].Comment == "" {
			return prefix(es[i].Prefix)
		}
		return mapping("cidr", prefix(es[i].Prefix), "comment", str(es[i].Comment))
	})
}

func strList(ss []string) *yaml.Node {
	n := seq(len(ss), func(i int) *yaml.Node { return str(ss[i]) })
	n.Style = yaml.FlowStyle
	return n
}

func integer(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
}

func proxyNode(px Proxy) *yaml.Node {
	if !px.Enabled {
		return mapping("enabled", boolean(false))
	}
	return node(reflect.ValueOf(px))
}

func devicesNode(d Devices) *yaml.Node {
	m := mapping(
		"allow_mail_if_no_policy", boolean(d.AllowMailIfNoPolicy),
		"max_discovered", integer(d.MaxDiscovered),
		"push", mapping("listen", str(d.Push.Listen), "token_file", str(d.Push.TokenFile),
			"cert_file", str(d.Push.CertFile), "key_file", str(d.Push.KeyFile), "plain_http", boolean(d.Push.PlainHTTP),
			"allow_plain_http_off_loopback", boolean(d.Push.AllowPlainHTTPOffLoopback)),
		"pull", mapping("url", str(d.Pull.URL), "interval", str(d.Pull.Interval.String()),
			"token_file", str(d.Pull.TokenFile), "ca_file", str(d.Pull.CAFile)),
	)
	if d.Policy != nil {
		add(m, "policy", devicePolicyNode(*d.Policy))
	}
	return m
}

func devicePolicyNode(c device.Config) *yaml.Node { return node(reflect.ValueOf(c)) }

// MarshalDevicePolicy writes a device policy as the devices.policy section
// of a configuration file would hold it.
func MarshalDevicePolicy(c device.Config) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(devicePolicyNode(c)); err != nil {
		return []byte("# " + err.Error() + "\n")
	}
	enc.Close()
	return b.Bytes()
}

func transformsNode(t transform.Config) *yaml.Node {
	if !t.Enabled {
		return mapping("enabled", boolean(false))
	}
	return node(reflect.ValueOf(t))
}

// MarshalTransforms writes the transforms section as the file would hold
// it.
func MarshalTransforms(t transform.Config) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(transformsNode(t)); err != nil {
		return []byte("# " + err.Error() + "\n")
	}
	enc.Close()
	return b.Bytes()
}
