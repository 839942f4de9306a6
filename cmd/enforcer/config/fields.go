package config

import (
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The sections whose option type a library owns (device.Config,
// proxy.Config, transform.Config) are read and written through the
// type's struct tags, so that a setting is declared once: a field with
// its doc comment and tags in the library, its cross-field rules in the
// library's validation. The tags:
//
//	yaml:"key"            the field's key in the file; no tag (or "-"):
//	                      not in the file. yaml:",inline": the fields of
//	                      a nested struct sit at this level.
//	yaml:"key,omitempty"  Marshal leaves the field out when zero.
//	check:"..."           the syntax the file must use:
//	                        lo..hi        an int or duration within bounds
//	                        limit lo..hi  an int where the file's 0 is
//	                                      "no limit" (the type's -1) and
//	                                      absent is the type's default (0)
//	                        path          an absolute path or ""
//	                        url           an http(s) URL
//	                        hostport EXAMPLE
//	                                      a listen address
//	                        deadline lo..hi
//	                                      a duration where the file's
//	                                      "0s" is "none" (the type's -1)
//	                        text WANT     any scalar, checked by the
//	                                      library (WANT names it)
//	                        enum WHAT: a, b, c
//	                                      one of the words, as written;
//	                                      a TextUnmarshaler reads it
//	example:"..."         a list's example, for "want a list" messages
//	required:"..."        the message when the key is missing
//	default:"..."         the value before the file is read (string,
//	                      bool, or text for a TextUnmarshaler)
//	local:"..."           a field naming a file: refused, with this
//	                      message, in a document from device management
var (
	durationType = reflect.TypeFor[time.Duration]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	entriesType  = reflect.TypeFor[[]Entry]()
)

// tagged is one field of a tagged struct, inline fields flattened.
type tagged struct {
	key string
	sf  reflect.StructField
	v   reflect.Value
}

// taggedFields lists the fields of the struct v with a yaml key, in
// declaration order.
func taggedFields(v reflect.Value) []tagged {
	var out []tagged
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		switch {
		case name == "" && opts == "inline":
			out = append(out, taggedFields(v.Field(i))...)
		case name == "" || name == "-":
		default:
			out = append(out, tagged{key: name, sf: sf, v: v.Field(i)})
		}
	}
	return out
}

// setDefaults sets the fields of the struct v that carry a default tag.
func setDefaults(v reflect.Value) {
	for _, f := range taggedFields(v) {
		d, ok := f.sf.Tag.Lookup("default")
		if !ok {
			continue
		}
		if u, ok := f.v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			if err := u.UnmarshalText([]byte(d)); err != nil {
				panic(fmt.Sprintf("config: default %q of %s: %v", d, f.sf.Name, err))
			}
			continue
		}
		switch f.v.Kind() {
		case reflect.String:
			f.v.SetString(d)
		case reflect.Bool:
			f.v.SetBool(d == "true")
		}
	}
}

// decode reads the mapping n into the struct dst points to, one key per
// tagged field, after setting the fields' defaults. It returns the key
// nodes present, as mapping does.
func (p *parser) decode(n *yaml.Node, field string, dst any) (map[string]*yaml.Node, bool) {
	v := reflect.ValueOf(dst).Elem()
	setDefaults(v)
	fields := taggedFields(v)
	specs := make([]fieldSpec, len(fields))
	for i, f := range fields {
		specs[i] = fieldSpec{f.key, func(n *yaml.Node, field string) { p.value(n, field, f.v, f.sf.Tag) }}
	}
	keys, ok := p.mapping(n, field, specs)
	if !ok {
		return keys, false
	}
	for _, f := range fields {
		if msg, req := f.sf.Tag.Lookup("required"); req && keys[f.key] == nil && !p.reported(field) {
			p.addf(deref(n), join(field, f.key), "%s", msg)
		}
	}
	return keys, true
}

// value reads one field's value into v as its tags say.
func (p *parser) value(n *yaml.Node, field string, v reflect.Value, tag reflect.StructTag) {
	check := tag.Get("check")
	if msg, ok := tag.Lookup("local"); ok && p.remote {
		p.addf(n, field, "%s", msg)
		return
	}
	switch {
	case v.Type() == durationType && strings.HasPrefix(check, "deadline "):
		bounds := strings.TrimPrefix(check, "deadline ")
		lo, hi := durationRange(bounds)
		switch d, ok := p.duration(n, field, 0, hi); {
		case !ok:
		case d == 0:
			v.SetInt(-1) // "0s": no deadline
		case d < lo:
			p.addf(deref(n), field, "%s is out of range %s; write \"0s\" for no deadline", quote(deref(n).Value), bounds)
		default:
			v.SetInt(int64(d))
		}
		return
	case v.Type() == durationType:
		lo, hi := durationRange(check)
		if d, ok := p.duration(n, field, lo, hi); ok {
			v.SetInt(int64(d))
		}
		return
	case v.Type() == entriesType:
		es, _ := p.entries(n, field)
		v.Set(reflect.ValueOf(es))
		return
	case v.Type() == prefixType:
		if pfx, ok := p.prefix(n, field); ok {
			v.Set(reflect.ValueOf(pfx))
		}
		return
	case strings.HasPrefix(check, "enum "):
		what, choices, _ := strings.Cut(strings.TrimPrefix(check, "enum "), ": ")
		s, ok := p.enum(n, field, what, strings.Split(choices, ", ")...)
		if !ok {
			return
		}
		if u, isText := v.Addr().Interface().(encoding.TextUnmarshaler); isText {
			if err := u.UnmarshalText([]byte(s)); err != nil {
				p.addf(deref(n), field, "%v", err)
			}
			return
		}
		v.SetString(s)
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		if b, ok := p.boolean(n, field); ok {
			v.SetBool(b)
		}
	case reflect.Int:
		bounds, limit := strings.CutPrefix(check, "limit ")
		lo, hi := intRange(bounds)
		if limit {
			v.SetInt(int64(p.limit(n, field, hi)))
		} else if i, ok := p.integer(n, field, lo, hi); ok {
			v.SetInt(int64(i))
		}
	case reflect.String:
		var s string
		var ok bool
		switch {
		case check == "path":
			s, ok = p.absPath(n, field, true)
		case check == "url":
			s, ok = p.httpURL(n, field, false)
		case strings.HasPrefix(check, "hostport "):
			s, ok = p.hostPort(n, field, false, strings.TrimPrefix(check, "hostport "))
		case strings.HasPrefix(check, "text "):
			s, ok = p.text(n, field, strings.TrimPrefix(check, "text "))
		default:
			s, ok = p.str(n, field)
		}
		if ok {
			v.SetString(s)
		}
	case reflect.Slice:
		example := tag.Get("example")
		switch et := v.Type().Elem(); {
		case et.Kind() == reflect.String:
			v.Set(reflect.ValueOf(p.strings(n, field, example)))
		case et == prefixType:
			items, _ := p.list(n, field, example)
			s := seen[netip.Prefix]{}
			out := reflect.MakeSlice(v.Type(), 0, len(items))
			for i, item := range items {
				if pfx, ok := p.prefix(item, index(field, i)); ok && !s.dup(p, pfx, item, index(field, i), pfx.String()) {
					out = reflect.Append(out, reflect.ValueOf(pfx))
				}
			}
			v.Set(out)
		case et.Kind() == reflect.Struct:
			items, _ := p.list(n, field, example)
			out := reflect.MakeSlice(v.Type(), 0, len(items))
			for i, item := range items {
				e := reflect.New(et)
				p.decode(item, index(field, i), e.Interface())
				out = reflect.Append(out, e.Elem())
			}
			v.Set(out)
		default:
			panic(fmt.Sprintf("config: no file syntax for %s", v.Type()))
		}
	case reflect.Struct:
		p.decode(n, field, v.Addr().Interface())
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		p.decode(n, field, e.Interface())
		v.Set(e)
	default:
		panic(fmt.Sprintf("config: no file syntax for %s", v.Type()))
	}
}

func intRange(s string) (lo, hi int) {
	a, b, _ := strings.Cut(s, "..")
	lo, _ = strconv.Atoi(strings.ReplaceAll(a, "_", ""))
	hi, _ = strconv.Atoi(strings.ReplaceAll(b, "_", ""))
	return lo, hi
}

func durationRange(s string) (lo, hi time.Duration) {
	a, b, _ := strings.Cut(s, "..")
	lo, _ = time.ParseDuration(a)
	hi, _ = time.ParseDuration(b)
	return lo, hi
}

// node writes a tagged struct as the file holds it, every field spelled
// out but those tagged omitempty and zero, and limits left at the
// library's default.
func node(v reflect.Value) *yaml.Node {
	m := mapping()
	for _, f := range taggedFields(v) {
		_, opts, _ := strings.Cut(f.sf.Tag.Get("yaml"), ",")
		if opts == "omitempty" && f.v.IsZero() {
			continue
		}
		if n := valueNode(f.v, f.sf.Tag); n != nil {
			add(m, f.key, n)
		}
	}
	return m
}

// valueNode writes one value; nil leaves the field out.
func valueNode(v reflect.Value, tag reflect.StructTag) *yaml.Node {
	switch v.Type() {
	case durationType:
		return str(max(time.Duration(v.Int()), 0).String())
	case entriesType:
		return entryList(v.Interface().([]Entry))
	case prefixType:
		return prefix(v.Interface().(netip.Prefix))
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, _ := m.MarshalText()
		return str(string(b))
	}
	switch v.Kind() {
	case reflect.Bool:
		return boolean(v.Bool())
	case reflect.Int:
		if strings.HasPrefix(tag.Get("check"), "limit ") {
			// 0 is the library's default, which the file spells by
			// leaving the key out; a negative one (none) is the
			// file's 0.
			if v.Int() == 0 {
				return nil
			}
			return integer(max(int(v.Int()), 0))
		}
		return integer(int(v.Int()))
	case reflect.String:
		return str(v.String())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			return strList(v.Interface().([]string))
		}
		return seq(v.Len(), func(i int) *yaml.Node { return valueNode(v.Index(i), "") })
	case reflect.Struct:
		return node(v)
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return node(v.Elem())
	}
	panic(fmt.Sprintf("config: no file syntax for %s", v.Type()))
}

// libraryProblems reports the error of a library's Validate at the
// place in the section each problem names. Each joined error that has a
// FieldProblem method names its field by its key path in the section
// ("links.domains", "webmail_prefixes[0]"); another is reported on the
// section. When the section has problems already the library's are left
// out: it saw the fields those problems left unset.
func (p *parser) libraryProblems(err error, n *yaml.Node, field string) {
	if err == nil || p.reported(field) {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		fp, ok := e.(interface{ FieldProblem() (string, string) })
		if !ok {
			p.addf(deref(n), field, "%v", e)
			continue
		}
		key, problem := fp.FieldProblem()
		p.addf(nodeAt(n, key), join(field, key), "%s", problem)
	}
}

var (
	pathStep  = regexp.MustCompile(`^([^.\[]*)((?:\[\d+\])*)`)
	pathIndex = regexp.MustCompile(`\d+`)
)

// nodeAt finds the node a key path ("a.b[2].c") names under the mapping
// n: a mapping key's key node, a list item's node; as far as the path is
// there, else n.
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	at := deref(n)
	cur := at
	for path != "" && cur != nil {
		m := pathStep.FindStringSubmatch(path)
		if m == nil || m[0] == "" {
			break
		}
		path = strings.TrimPrefix(path[len(m[0]):], ".")
		if m[1] != "" {
			k, v := keyValue(cur, m[1])
			if k == nil {
				break
			}
			at, cur = k, v
		}
		for _, idx := range pathIndex.FindAllString(m[2], -1) {
			i, _ := strconv.Atoi(idx)
			if cur.Kind != yaml.SequenceNode || i >= len(cur.Content) {
				return at
			}
			cur = deref(cur.Content[i])
			at = cur
		}
	}
	return at
}

// keyValue returns the key node and (dereferenced) value of key in the
// mapping m.
func keyValue(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if deref(m.Content[i]).Value == key {
			return m.Content[i], deref(m.Content[i+1])
		}
	}
	return nil, nil
}
