package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/iprange"
)

// maxNodes bounds the size of a document with its aliases expanded: a few
// hundred bytes of nested aliases can otherwise stand for billions of
// nodes ("billion laughs").
const maxNodes = 1 << 20

// Parse parses data, the content of the configuration file called name
// (used in problem reports only). A non-nil error is an *Error.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{file: name}
	root, ok := p.document(data)
	if !ok {
		return nil, p.err()
	}
	c := p.config(root)
	if len(p.problems) > 0 {
		return nil, p.err()
	}
	return c, nil
}

type parser struct {
	file     string
	problems []Problem
	// remote: the document came from device management; fields that name
	// files are refused (ParseRemoteTransforms).
	remote bool
}

func (p *parser) addf(n *yaml.Node, field, format string, args ...any) {
	pr := Problem{File: p.file, Field: shorten(field), Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.problems = append(p.problems, pr)
}

// quote quotes a value from the file for a message, cut short when long:
// the line number says where the rest is.
func quote(s string) string { return strconv.Quote(shorten(s)) }

// shorten cuts a long string for a message.
func shorten(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit-20], "") + "..." + strings.ToValidUTF8(s[len(s)-10:], "")
}

func (p *parser) err() *Error {
	ps := slices.Clone(p.problems)
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	e := &Error{Problems: ps}
	if len(ps) > MaxProblems {
		e.Problems, e.Omitted = ps[:MaxProblems], len(ps)-MaxProblems
	}
	return e
}

// document returns the root node of the one YAML document in data: nil
// for an empty file.
func (p *parser) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeNode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		p.yamlError(err)
		return nil, false
	}
	var extra yaml.Node
	switch err := decodeNode(dec, &extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.yamlError(err)
		return nil, false
	default:
		at := &extra
		if len(extra.Content) > 0 {
			at = extra.Content[0]
		}
		p.addf(at, "", "a second YAML document (after ---): the configuration is one document; merge them")
		return nil, false
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if n, ok := expandedSize(root, map[*yaml.Node]int{}, map[*yaml.Node]bool{}); !ok {
		p.addf(root, "", "an alias refers to the value that contains it; aliases must point outside themselves")
		return nil, false
	} else if n > maxNodes {
		p.addf(root, "", "the document expands to more than %d values through aliases; write it with fewer aliases", maxNodes)
		return nil, false
	}
	return root, true
}

// decodeNode shields Parse from a panic in the YAML library on hostile
// input: a configuration file is operator input, and a malformed one must
// be reported, never crash the daemon on reload.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlParserErrors are the libyaml parser's (not scanner's) messages, with
// the construct they are reported against. yaml.v3 prints a parser
// error's line 0-based (the line before the construct; none at all for
// line 1), while scanner errors are 1-based; see (*parser).fail in
// yaml.v3's decode.go.
var yamlParserErrors = map[string]string{
	"did not find expected <document start>": "",
	"did not find expected node content":     "",
	"found undefined tag handle":             "",
	"did not find expected '-' indicator":    " in the list that starts here",
	"did not find expected key":              " in the mapping that starts here",
	"did not find expected ',' or ']'":       " in the [ ] list that starts here",
	"did not find expected ',' or '}'":       " in the { } mapping that starts here",
}

func (p *parser) yamlError(err error) {
	line, msg := 0, err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if where, ok := yamlParserErrors[msg]; ok {
		line++
		msg += where
	}
	p.problems = append(p.problems, Problem{File: p.file, Line: line,
		Msg: "invalid YAML: " + msg + "; check the indentation (spaces, not tabs), and quote values that contain \": \" or \" #\" or start with one of : [ ] { } * & ! | > ' \" % @ (e.g. \"::1\")"})
}

// expandedSize counts the nodes under n with aliases expanded, memoised
// per node so that the count itself stays linear; ok is false for an alias
// cycle.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, active map[*yaml.Node]bool) (int, bool) {
	if n == nil {
		return 0, true
	}
	if s, done := memo[n]; done {
		return s, true
	}
	if active[n] {
		return 0, false
	}
	active[n] = true
	size := 1
	kids := n.Content
	if n.Kind == yaml.AliasNode {
		kids = []*yaml.Node{n.Alias}
	}
	for _, k := range kids {
		s, ok := expandedSize(k, memo, active)
		if !ok {
			return 0, false
		}
		size = min(size+s, maxNodes+1)
	}
	delete(active, n)
	memo[n] = size
	return size, true
}

// valueOf returns the value of key in mapping m.
func valueOf(m, key *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i] == key {
			return m.Content[i+1]
		}
	}
	return key
}

// deref follows aliases to the value they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return quote(n.Value)
		case "!!int", "!!float":
			return "the number " + shorten(n.Value)
		case "!!bool":
			return shorten(n.Value)
		}
		return shorten(n.ShortTag()) + " " + quote(n.Value)
	}
	return "a document"
}

func join(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

type fieldSpec struct {
	name string
	fn   func(v *yaml.Node, field string)
}

// mapping walks a mapping's keys, handing each known key's value to its
// spec and reporting unknown, duplicate and merge keys. It returns the key
// nodes of the fields present. A null value counts as an empty mapping, so
// that a section whose lines are all commented out means "defaults".
func (p *parser) mapping(n *yaml.Node, field string, specs []fieldSpec) (map[string]*yaml.Node, bool) {
	present := map[string]*yaml.Node{}
	n = deref(n)
	if isNull(n) {
		return present, true
	}
	if n.Kind != yaml.MappingNode {
		names := make([]string, len(specs))
		for i, s := range specs {
			names[i] = s.name
		}
		p.addf(n, field, "want a mapping with the fields %s, got %s", strings.Join(names, ", "), describe(n))
		return present, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kd := deref(k)
		if kd.Kind != yaml.ScalarNode {
			p.addf(k, field, "a key must be a field name, got %s", describe(kd))
			continue
		}
		if kd.ShortTag() == "!!merge" {
			p.addf(k, field, "merge keys (<<) are not supported; write the fields out (an alias such as *office works for a whole value)")
			continue
		}
		name := kd.Value
		sub := join(field, name)
		if first, dup := present[name]; dup {
			p.addf(k, sub, "set twice (first at line %d); remove one", first.Line)
			continue
		}
		present[name] = k
		j := slices.IndexFunc(specs, func(s fieldSpec) bool { return s.name == name })
		if j < 0 {
			p.addf(k, sub, "unknown field; %s", suggest(name, specs))
			continue
		}
		specs[j].fn(v, sub)
	}
	return present, true
}

// aliases are names people reach for that mean one of our fields.
var aliases = map[string]string{
	"allowlist": "allow", "allowed": "allow", "whitelist": "allow", "allow_list": "allow",
	"denylist": "deny", "blocklist": "deny", "blacklist": "deny", "deny_list": "deny", "block": "deny",
	"country": "countries", "geofenced": "geofence", "geo": "geofence", "proto": "protocols",
	"protocol": "protocols", "port": "ports", "destination": "destinations", "disabled": "enabled",
	"interface": "interfaces", "mode": "xdp_mode", "statedir": "state_dir", "bpffs": "bpffs_dir",
	"db": "database", "path": "database", "address": "listen", "addr": "listen", "level": "level",
	"prefix": "cidr", "network": "cidr", "note": "comment", "description": "comment",
}

// suggest names the field a mistyped key probably meant, or lists them all.
func suggest(name string, specs []fieldSpec) string {
	key := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	best, bestDist := "", 4
	for _, s := range specs {
		if a, ok := aliases[key]; ok && a == s.name {
			best, bestDist = s.name, 0
			break
		}
		if d := distance(key, s.name); d < bestDist && d <= max(1, len(s.name)/3) {
			best, bestDist = s.name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return "the fields here are " + strings.Join(names, ", ")
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str reads a string scalar.
func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			hint = "; quote it: " + quote(n.Value)
		}
		p.addf(n, field, "want a string, got %s%s", describe(n), hint)
		return "", false
	}
	return n.Value, true
}

// text reads any non-null scalar as text, for values whose own syntax is
// checked next (prefixes, country codes): a message about that syntax is
// more useful than one about YAML types.
func (p *parser) text(n *yaml.Node, field, want string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.addf(n, field, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	n = deref(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.addf(n, field, "want true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// enum reads one of choices.
func (p *parser) enum(n *yaml.Node, field, what string, choices ...string) (string, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	if slices.Contains(choices, s) {
		return s, true
	}
	if l := strings.ToLower(s); slices.Contains(choices, l) {
		p.addf(deref(n), field, "%s: write it in lower case, %s", quote(s), quote(l))
		return "", false
	}
	p.addf(deref(n), field, "%s is not %s; use one of %s", quote(s), what, strings.Join(choices, ", "))
	return "", false
}

// list reads a sequence; a null value is an empty list, so that a list
// whose entries are all commented out means "none".
func (p *parser) list(n *yaml.Node, field, example string) ([]*yaml.Node, bool) {
	n = deref(n)
	switch {
	case isNull(n):
		return nil, true
	case n.Kind == yaml.SequenceNode:
		return n.Content, true
	}
	p.addf(n, field, "want a list, got %s; write e.g. %s", describe(n), example)
	return nil, false
}

func (p *parser) absPath(n *yaml.Node, field string, allowEmpty bool) (string, bool) {
	s, ok := p.str(n, field)
	switch {
	case !ok:
		return "", false
	case s == "" && allowEmpty:
		return "", true
	case s == "":
		p.addf(deref(n), field, "empty; give an absolute path or remove the field for the default")
		return "", false
	case !filepath.IsAbs(s):
		p.addf(deref(n), field, "%s is not an absolute path; the daemon runs from /, so write it out, e.g. %s", quote(s), quote("/"+strings.TrimPrefix(s, "./")))
		return "", false
	}
	return s, true
}

const prefixExample = "(want e.g. 192.0.2.0/24 or 2001:db8::/32)"

// parsePrefix reads a CIDR prefix; a bare address is a host prefix. A
// prefix with host bits set is refused rather than masked: 10.0.0.1/8
// could mean 10.0.0.0/8 or the one host, and guessing wrong opens (or
// closes) sixteen million addresses.
func parsePrefix(s string) (netip.Prefix, string) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Sprintf("%s is not a CIDR prefix %s", quote(s), prefixExample)
		}
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	if m := pfx.Masked(); m != pfx {
		return netip.Prefix{}, fmt.Sprintf("%s has host bits set; write %s for the network, or %s for the one host",
			quote(s), m, netip.PrefixFrom(pfx.Addr(), pfx.Addr().BitLen()))
	}
	return pfx, ""
}

func (p *parser) prefix(n *yaml.Node, field string) (netip.Prefix, bool) {
	s, ok := p.text(n, field, "a CIDR prefix "+prefixExample)
	if !ok {
		return netip.Prefix{}, false
	}
	pfx, msg := parsePrefix(s)
	if msg != "" {
		p.addf(deref(n), field, "%s", msg)
		return netip.Prefix{}, false
	}
	return pfx, true
}

// seen reports list entries given twice. Duplicates are harmless in some
// lists, but one is always a slip (a copy-paste of the wrong line), and in
// ports, protocols and destinations they would make a service clash with
// itself in the datapath.
type seen[K comparable] map[K]*yaml.Node

func (s seen[K]) dup(p *parser, k K, n *yaml.Node, field, shown string) bool {
	if first, dup := s[k]; dup {
		p.addf(deref(n), field, "%s is listed twice (first at line %d); remove one", shown, first.Line)
		return true
	}
	s[k] = deref(n)
	return false
}

// entries reads a deny list or an allowlist: each entry a CIDR string or
// a mapping {cidr, comment}, where the CIDR may also be an address range
// FROM-TO, which becomes its minimal CIDR cover, every prefix with the
// entry's comment.
func (p *parser) entries(n *yaml.Node, field string) ([]Entry, bool) {
	items, ok := p.list(n, field, "[192.0.2.0/24, 2001:db8::/32]")
	var out []Entry
	s := seen[netip.Prefix]{}
	for i, item := range items {
		f := index(field, i)
		var (
			pfxs    []netip.Prefix
			comment string
		)
		if d := deref(item); d.Kind == yaml.MappingNode {
			cidrOK, commentOK := false, true
			keys, _ := p.mapping(d, f, []fieldSpec{
				{"cidr", func(v *yaml.Node, f string) { pfxs, cidrOK = p.prefixOrRange(v, f) }},
				{"comment", func(v *yaml.Node, f string) { comment, commentOK = p.str(v, f) }},
			})
			good := cidrOK && commentOK
			if keys["cidr"] == nil {
				p.addf(d, f, "cidr: required, e.g. {cidr: 192.0.2.0/24, comment: office}")
			}
			if !good {
				ok = false
				continue
			}
			item = valueOf(d, keys["cidr"])
		} else {
			var good bool
			if pfxs, good = p.prefixOrRange(item, f); !good {
				ok = false
				continue
			}
		}
		for _, pfx := range pfxs {
			if s.dup(p, policy.Normalize(pfx), item, f, pfx.String()) {
				ok = false
				continue
			}
			out = append(out, Entry{Prefix: pfx, Comment: comment})
		}
	}
	return out, ok
}

// prefixOrRange reads a CIDR prefix, a bare address, or an address range
// FROM-TO as its minimal CIDR cover.
func (p *parser) prefixOrRange(n *yaml.Node, field string) ([]netip.Prefix, bool) {
	s, ok := p.text(n, field, "a CIDR prefix or address range (want e.g. 192.0.2.0/24, 2001:db8::/32 or 192.0.2.1-192.0.2.9)")
	if !ok {
		return nil, false
	}
	if iprange.IsRange(s) {
		pfxs, err := iprange.Parse(s)
		if err != nil {
			p.addf(deref(n), field, "%v", err)
			return nil, false
		}
		return pfxs, true
	}
	pfx, msg := parsePrefix(s)
	if msg != "" {
		p.addf(deref(n), field, "%s", msg)
		return nil, false
	}
	return []netip.Prefix{pfx}, true
}

// validInterfaceName mirrors the kernel's dev_valid_name.
func validInterfaceName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r == '/' || r == ':' || r == 0 || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	})
}

func (p *parser) interfaces(n *yaml.Node, field string) []Interface {
	items, _ := p.list(n, field, "[{name: eth0}]")
	var out []Interface
	s := seen[string]{}
	for i, item := range items {
		f := index(field, i)
		ifc := Interface{XDPMode: XDPAuto}
		nameNode := item
		good := true
		if d := deref(item); d.Kind == yaml.MappingNode {
			keys, _ := p.mapping(d, f, []fieldSpec{
				{"name", func(v *yaml.Node, f string) {
					var ok bool
					if ifc.Name, ok = p.str(v, f); !ok {
						good = false
					}
				}},
				{"xdp_mode", func(v *yaml.Node, f string) {
					m, ok := p.enum(v, f, "an XDP mode", string(XDPAuto), string(XDPNative), string(XDPGeneric))
					ifc.XDPMode, good = XDPMode(m), good && ok
				}},
			})
			if keys["name"] == nil {
				p.addf(d, f, "name: required, e.g. {name: eth0, xdp_mode: auto}")
				continue
			}
			nameNode = valueOf(d, keys["name"])
			f = join(f, "name")
		} else {
			var ok bool
			if ifc.Name, ok = p.str(item, f); !ok {
				continue
			}
		}
		if !good {
			continue
		}
		if !validInterfaceName(ifc.Name) {
			p.addf(deref(nameNode), f, "%s is not an interface name (1 to 15 characters, no '/', ':' or spaces); `ip link` lists them", quote(ifc.Name))
			continue
		}
		if s.dup(p, ifc.Name, nameNode, f, strconv.Quote(ifc.Name)) {
			continue
		}
		out = append(out, ifc)
	}
	return out
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

func (p *parser) config(root *yaml.Node) *Config {
	c := &Config{
		StateDir: DefaultStateDir,
		BPFFSDir: DefaultBPFFSDir,
		GeoIP:    GeoIP{Database: DefaultGeoIPDatabase},
		Log:      Log{Format: LogText, Level: slog.LevelInfo},
		Admin:    Admin{Socket: DefaultAdminSocket, Listen: DefaultAdminListen},
		Devices:  Devices{MaxDiscovered: DefaultMaxDiscovered, Pull: DevicePull{Interval: DefaultPullInterval}},
		Metrics:  Metrics{Listen: DefaultMetricsListen},
	}
	var geoRequired *yaml.Node
	var services []*svcSrc
	set := func(dst *string) func(string, bool) {
		return func(s string, ok bool) {
			if ok {
				*dst = s
			}
		}
	}
	keys, ok := p.mapping(root, "", []fieldSpec{
		{"interfaces", func(v *yaml.Node, f string) { c.Interfaces = p.interfaces(v, f) }},
		{"state_dir", func(v *yaml.Node, f string) { set(&c.StateDir)(p.absPath(v, f, false)) }},
		{"bpffs_dir", func(v *yaml.Node, f string) { set(&c.BPFFSDir)(p.absPath(v, f, false)) }},
		{"geoip", func(v *yaml.Node, f string) {
			keys, _ := p.mapping(v, f, []fieldSpec{
				{"database", func(v *yaml.Node, f string) { set(&c.GeoIP.Database)(p.absPath(v, f, true)) }},
				{"required", func(v *yaml.Node, f string) { c.GeoIP.Required, _ = p.boolean(v, f) }},
			})
			geoRequired = keys["required"]
		}},
		{"log", func(v *yaml.Node, f string) {
			p.mapping(v, f, []fieldSpec{
				{"format", func(v *yaml.Node, f string) {
					if s, ok := p.enum(v, f, "a log format", string(LogText), string(LogJSON)); ok {
						c.Log.Format = LogFormat(s)
					}
				}},
				{"level", func(v *yaml.Node, f string) {
					if s, ok := p.enum(v, f, "a log level", "debug", "info", "warn", "error"); ok {
						c.Log.Level = logLevels[s]
					}
				}},
			})
		}},
		{"admin", func(v *yaml.Node, f string) {
			p.mapping(v, f, []fieldSpec{
				{"socket", func(v *yaml.Node, f string) { set(&c.Admin.Socket)(p.absPath(v, f, false)) }},
				{"listen", func(v *yaml.Node, f string) {
					set(&c.Admin.Listen)(p.hostPort(v, f, true, `127.0.0.1:9741, [::1]:9741, or "" to turn the admin page off`))
				}},
				{"hosts", func(v *yaml.Node, f string) { c.Admin.Hosts = p.adminHosts(v, f) }},
			})
		}},
		{"proxy", func(v *yaml.Node, f string) { c.Proxy, _ = p.proxy(v, f) }},
		{"devices", func(v *yaml.Node, f string) { c.Devices = p.devices(v, f) }},
		{"transforms", func(v *yaml.Node, f string) { c.Transforms = p.transforms(v, f) }},
		{"metrics", func(v *yaml.Node, f string) {
			p.mapping(v, f, []fieldSpec{
				{"listen", func(v *yaml.Node, f string) { set(&c.Metrics.Listen)(p.listen(v, f)) }},
			})
		}},
		{"deny", func(v *yaml.Node, f string) { c.Deny, _ = p.entries(v, f) }},
		{"services", func(v *yaml.Node, f string) { services = p.services(v, f) }},
	})
	if !ok {
		return c
	}
	if len(c.Interfaces) == 0 && !p.reported("interfaces") {
		at := root
		if k := keys["interfaces"]; k != nil {
			at = k
		}
		p.addf(at, "interfaces", "required: list the interfaces to guard, e.g. interfaces: [{name: eth0}]")
	}
	if c.GeoIP.Required && c.GeoIP.Database == "" && geoRequired != nil {
		p.addf(geoRequired, "geoip.required", "true, but geoip.database is empty; give the database path or set required: false")
	}
	c.Services = p.crossCheck(services, keys["services"])
	p.checkGateway(c, keys)
	if c.Proxy.Enabled && c.Proxy.ProtectUpstream {
		for _, src := range services {
			if src.s.Name == ServiceUpstream {
				p.addf(src.nameNode, join(src.field, "name"), "%q is the name of the service proxy.protect_upstream derives from proxy.upstream; rename this service, or set proxy.protect_upstream: false", ServiceUpstream)
			}
		}
	}
	return c
}

// reported reports whether a problem was already found at field or below.
func (p *parser) reported(field string) bool {
	return slices.ContainsFunc(p.problems, func(pr Problem) bool {
		return pr.Field == field || strings.HasPrefix(pr.Field, field+".") || strings.HasPrefix(pr.Field, field+"[")
	})
}

func (p *parser) listen(n *yaml.Node, field string) (string, bool) {
	return p.hostPort(n, field, true, `127.0.0.1:9740, [::1]:9740, or "" to disable metrics`)
}

func validHostname(s string) bool {
	return len(s) <= 253 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.')
	})
}
