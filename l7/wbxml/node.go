package wbxml

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// NodeKind says what a [Node] is.
type NodeKind uint8

// Node kinds. The zero value is an element so that struct literals of
// elements stay short.
const (
	ElementNode NodeKind = iota
	// TextNode holds an inline string (STR_I).
	TextNode
	// OpaqueNode holds opaque data (OPAQUE).
	OpaqueNode
)

// Node is one element, string or opaque value of a decoded document.
type Node struct {
	Kind NodeKind

	// Page and Tag (ElementNode) are the code page and token (0x05..0x3F).
	Page uint8
	Tag  uint8
	// Switch (ElementNode) records an explicit SWITCH_PAGE token before the
	// tag. Decode sets it exactly as found; the encoder also switches
	// whenever Page differs from the page in effect, so trees built in code
	// can leave it false.
	Switch bool
	// HasContent (ElementNode) records the content bit of an element
	// without children, so that tag|0x40 END re-encodes as such. Elements
	// with children always get the bit, and Decode leaves HasContent false
	// on them so that decoded trees compare equal to built ones.
	HasContent bool
	// Children (ElementNode) in document order: elements, strings and
	// opaque values.
	Children []*Node

	// Text is the value of a TextNode.
	Text string
	// Opaque is the value of an OpaqueNode.
	Opaque []byte
}

// TagID returns the element's tag.
func (n *Node) TagID() Tag { return Tag{Page: n.Page, Token: n.Tag} }

// Name returns the qualified name of an element ("AirSyncBase:Body"), "#text"
// for a TextNode and "#opaque" for an OpaqueNode.
func (n *Node) Name() string {
	switch n.Kind {
	case TextNode:
		return "#text"
	case OpaqueNode:
		return "#opaque"
	}
	return n.TagID().Name()
}

// Is reports whether n is the element named name.
func (n *Node) Is(name string) bool {
	t, ok := LookupTag(name)
	return ok && n != nil && n.Kind == ElementNode && n.TagID() == t
}

// Value returns the concatenated strings and opaque values among the direct
// children of an element: the text of <Status>129</Status>, whichever form
// the sender chose.
func (n *Node) Value() string {
	var b strings.Builder
	for _, c := range n.Children {
		switch c.Kind {
		case TextNode:
			b.WriteString(c.Text)
		case OpaqueNode:
			b.Write(c.Opaque)
		}
	}
	return b.String()
}

// SetText replaces the children of an element with one string.
func (n *Node) SetText(s string) {
	n.Children = []*Node{NewText(s)}
}

// Child returns the first child element named name, or nil.
func (n *Node) Child(name string) *Node {
	t, ok := LookupTag(name)
	if !ok {
		return nil
	}
	for _, c := range n.Children {
		if c.Kind == ElementNode && c.TagID() == t {
			return c
		}
	}
	return nil
}

// ChildrenNamed returns the child elements named name.
func (n *Node) ChildrenNamed(name string) []*Node {
	t, ok := LookupTag(name)
	if !ok {
		return nil
	}
	var out []*Node
	for _, c := range n.Children {
		if c.Kind == ElementNode && c.TagID() == t {
			out = append(out, c)
		}
	}
	return out
}

// Find follows a path of child names from n and returns the first match, or
// nil: root.Find("AirSync:Collections", "AirSync:Collection").
func (n *Node) Find(path ...string) *Node {
	cur := n
	for _, p := range path {
		if cur = cur.Child(p); cur == nil {
			return nil
		}
	}
	return cur
}

// Walk calls fn for n and every node below it, depth first in document
// order, until fn returns false for a node (its subtree is then skipped).
func (n *Node) Walk(fn func(*Node) bool) {
	if !fn(n) {
		return
	}
	for _, c := range n.Children {
		c.Walk(fn)
	}
}

// Append adds children to an element and returns it.
func (n *Node) Append(children ...*Node) *Node {
	n.Children = append(n.Children, children...)
	return n
}

// Clone returns a deep copy of n.
func (n *Node) Clone() *Node {
	c := *n
	if n.Opaque != nil {
		c.Opaque = bytes.Clone(n.Opaque)
	}
	if n.Children != nil {
		c.Children = make([]*Node, len(n.Children))
		for i, ch := range n.Children {
			c.Children[i] = ch.Clone()
		}
	}
	return &c
}

// String returns the XML-like dump of [Format] without truncation.
func (n *Node) String() string { return Format(n, FormatOptions{}) }

// NewElement returns an empty element named name ("FolderHierarchy:Status").
func NewElement(name string) (*Node, error) {
	t, ok := LookupTag(name)
	if !ok {
		return nil, fmt.Errorf("element name %q: %w", name, ErrInvalid)
	}
	return &Node{Page: t.Page, Tag: t.Token}, nil
}

// Elem returns the element named name with the given children. It panics on
// an unknown name: names in program text are fixed, so that is a bug. Use
// [NewElement] for names from input.
func Elem(name string, children ...*Node) *Node {
	t := MustTag(name)
	return &Node{Page: t.Page, Tag: t.Token, Children: children}
}

// ElemText returns the element named name holding the string s (STR_I).
func ElemText(name, s string) *Node { return Elem(name, NewText(s)) }

// ElemOpaque returns the element named name holding b as OPAQUE.
func ElemOpaque(name string, b []byte) *Node { return Elem(name, NewOpaque(b)) }

// NewText returns a string node (STR_I).
func NewText(s string) *Node { return &Node{Kind: TextNode, Text: s} }

// NewOpaque returns an opaque node.
func NewOpaque(b []byte) *Node { return &Node{Kind: OpaqueNode, Opaque: b} }

// Decode decodes a whole document with the default [Limits].
func Decode(b []byte) (*Node, error) { return DecodeWithLimits(b, Limits{}) }

// DecodeWithLimits decodes a whole document and returns its root element.
func DecodeWithLimits(b []byte, lim Limits) (*Node, error) {
	d := NewDecoder(bytes.NewReader(b), lim)
	t, err := d.Next()
	if err != nil {
		return nil, err
	}
	root, err := d.ReadElement(t)
	if err != nil {
		return nil, err
	}
	if _, err := d.Next(); err != io.EOF {
		if err == nil {
			err = &SyntaxError{Offset: d.Offset(), Msg: "data after the root element", Err: ErrMalformed}
		}
		return nil, err
	}
	return root, nil
}

// ReadElement builds the subtree that start opens, reading tokens up to and
// including its END. start must be the StartTag the decoder just returned;
// the proxy uses this to materialise one item of a stream (an Add, a Fetch)
// while passing the rest through.
func (d *Decoder) ReadElement(start Token) (*Node, error) {
	if start.Kind != StartTag {
		return nil, invalidf("ReadElement needs a StartTag, got %v", start.Kind)
	}
	root, err := d.newNode(&Node{Page: start.Tag.Page, Tag: start.Tag.Token, Switch: start.Switch, HasContent: start.HasContent})
	if err != nil || !start.HasContent {
		return root, err
	}
	stack := []*Node{root}
	for len(stack) > 0 {
		t, err := d.Next()
		if err == io.EOF {
			err = &SyntaxError{Offset: d.Offset(), Msg: "input ended inside " + root.Name(), Err: ErrTruncated}
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		var n *Node
		switch t.Kind {
		case EndTag:
			// The content bit is implied by children; keep it only where
			// it is the sole record of tag|0x40 END.
			top.HasContent = len(top.Children) == 0
			stack = stack[:len(stack)-1]
			continue
		case Text:
			n = &Node{Kind: TextNode, Text: string(t.Data)}
		case Opaque:
			n = &Node{Kind: OpaqueNode, Opaque: t.Data}
		case StartTag:
			n = &Node{Page: t.Tag.Page, Tag: t.Tag.Token, Switch: t.Switch, HasContent: t.HasContent}
		}
		if _, err := d.newNode(n); err != nil {
			return nil, err
		}
		top.Children = append(top.Children, n)
		if t.Kind == StartTag && t.HasContent {
			stack = append(stack, n)
		}
	}
	return root, nil
}

func (d *Decoder) newNode(n *Node) (*Node, error) {
	d.nodes++
	if d.nodes > d.lim.MaxNodes {
		return nil, &SyntaxError{Offset: d.Offset(), Msg: fmt.Sprintf("more than %d nodes", d.lim.MaxNodes), Err: ErrTooLarge}
	}
	return n, nil
}

// Encode encodes the document whose root element is root.
func Encode(root *Node) ([]byte, error) {
	if root == nil || root.Kind != ElementNode {
		return nil, invalidf("root must be an element")
	}
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	if err := e.WriteNode(root); err != nil {
		return nil, fmt.Errorf("encode %s: %w", root.Name(), err)
	}
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", root.Name(), err)
	}
	return buf.Bytes(), nil
}
