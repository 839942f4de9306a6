package wbxml

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FormatOptions tune [Format].
type FormatOptions struct {
	// MaxValue cuts strings and opaque values longer than this many bytes
	// and notes how much was left out; 0 prints them whole. Logs should set
	// it: mail bodies live in these values.
	MaxValue int
}

// Format returns an indented, XML-like dump of n for logs and test diffs:
//
//	<FolderHierarchy:FolderSync>
//	  <FolderHierarchy:Status>129</FolderHierarchy:Status>
//	</FolderHierarchy:FolderSync>
//
// It shows what the bytes hold, not valid XML: names are qualified with
// their code page, an element without the content bit prints as <X/> and
// one with the bit but no children as <X></X>, opaque values print as
// [opaque N "..."] (Go-quoted), adjacent strings are separated by <!---->,
// and a SWITCH_PAGE to the page already in effect shows as switch="redundant".
func Format(n *Node, opt FormatOptions) string {
	f := formatter{opt: opt}
	f.node(n, 0)
	return f.b.String()
}

type formatter struct {
	b    strings.Builder
	opt  FormatOptions
	page uint8
}

func (f *formatter) node(n *Node, depth int) {
	indent := strings.Repeat("  ", depth)
	if n == nil {
		f.b.WriteString(indent + "<nil>\n")
		return
	}
	if n.Kind != ElementNode {
		f.b.WriteString(indent)
		f.value(n)
		f.b.WriteByte('\n')
		return
	}
	name := n.Name()
	f.b.WriteString(indent + "<" + name)
	if n.Switch && n.Page == f.page {
		f.b.WriteString(` switch="redundant"`)
	}
	if n.Switch || n.Page != f.page {
		f.page = n.Page
	}
	switch {
	case len(n.Children) == 0 && !n.HasContent:
		f.b.WriteString("/>\n")
	case valuesOnly(n.Children):
		f.b.WriteByte('>')
		for i, c := range n.Children {
			if i > 0 {
				f.b.WriteString("<!---->")
			}
			f.value(c)
		}
		f.b.WriteString("</" + name + ">\n")
	default:
		f.b.WriteString(">\n")
		for _, c := range n.Children {
			f.node(c, depth+1)
		}
		f.b.WriteString(indent + "</" + name + ">\n")
	}
}

func valuesOnly(children []*Node) bool {
	for _, c := range children {
		if c == nil || c.Kind == ElementNode {
			return false
		}
	}
	return true
}

func (f *formatter) value(n *Node) {
	switch n.Kind {
	case TextNode:
		s, cut := f.clip(n.Text)
		f.b.WriteString(escapeText(s))
		if cut > 0 {
			fmt.Fprintf(&f.b, "…(+%d bytes)", cut)
		}
	case OpaqueNode:
		s, cut := f.clip(string(n.Opaque))
		fmt.Fprintf(&f.b, "[opaque %d %s", len(n.Opaque), strconv.Quote(s))
		if cut > 0 {
			fmt.Fprintf(&f.b, "…(+%d bytes)", cut)
		}
		f.b.WriteByte(']')
	default:
		fmt.Fprintf(&f.b, "<kind %d>", n.Kind)
	}
}

func (f *formatter) clip(s string) (string, int) {
	if f.opt.MaxValue <= 0 || len(s) <= f.opt.MaxValue {
		return s, 0
	}
	return s[:f.opt.MaxValue], len(s) - f.opt.MaxValue
}

// escapeText escapes markup characters, and control characters and invalid
// UTF-8 as &#xNN; so that a log line cannot be forged or garbled by content.
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "&#x%02X;", s[i])
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r < 0x20 && r != '\t' || r == 0x7F:
			fmt.Fprintf(&b, "&#x%02X;", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
