package wbxml

import (
	"bufio"
	"bytes"
	"io"
)

// maxEncodeDepth guards [Encoder.WriteNode] against trees built with a cycle;
// no decodable document comes near it.
const maxEncodeDepth = 1 << 14

// Encoder writes a WBXML document token by token. It writes the header
// before the first token, inserts SWITCH_PAGE tokens where the code page
// changes (or where a token asks for one), and checks that the tokens form
// one well-nested element.
//
// Output is buffered: call [Encoder.Close] at the end (or [Encoder.Flush] to
// push out what is complete while streaming).
type Encoder struct {
	w        *bufio.Writer
	page     uint8
	open     int // elements opened with content and not yet closed
	started  bool
	rootDone bool
	err      error
}

// NewEncoder returns an encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: bufio.NewWriter(w)}
}

// WriteToken writes one token. Errors are sticky.
func (e *Encoder) WriteToken(t Token) error {
	if e.err != nil {
		return e.err
	}
	if err := e.writeToken(t); err != nil {
		e.err = err
		return err
	}
	return nil
}

func (e *Encoder) writeToken(t Token) error {
	if !e.started {
		e.started = true
		if _, err := e.w.Write(header[:]); err != nil {
			return err
		}
	}
	switch t.Kind {
	case StartTag:
		if e.rootDone {
			return invalidf("element %s after the root element", t.Tag.Name())
		}
		if t.Tag.Token < MinToken || t.Tag.Token > MaxToken {
			return invalidf("tag token 0x%02X out of range 0x05..0x3F", t.Tag.Token)
		}
		if t.Switch || t.Tag.Page != e.page {
			e.w.WriteByte(tokSwitchPage)
			e.w.WriteByte(t.Tag.Page)
			e.page = t.Tag.Page
		}
		b := t.Tag.Token
		if t.HasContent {
			b |= flagContent
			e.open++
		} else if e.open == 0 {
			e.rootDone = true
		}
		return e.w.WriteByte(b)
	case EndTag:
		if e.open == 0 {
			return invalidf("END with no open element")
		}
		e.open--
		if e.open == 0 {
			e.rootDone = true
		}
		return e.w.WriteByte(tokEnd)
	case Text:
		if e.open == 0 {
			return invalidf("STR_I outside the root element")
		}
		if bytes.IndexByte(t.Data, 0) >= 0 {
			// STR_I ends at the first NUL (WBXML 1.3 section 5.8.4.1);
			// such a string needs OPAQUE.
			return invalidf("NUL byte inside STR_I")
		}
		e.w.WriteByte(tokStrI)
		e.w.Write(t.Data)
		return e.w.WriteByte(0)
	case Opaque:
		if e.open == 0 {
			return invalidf("OPAQUE outside the root element")
		}
		if uint64(len(t.Data)) > 0xFFFFFFFF {
			return invalidf("OPAQUE of %d bytes exceeds mb_u_int32", len(t.Data))
		}
		e.w.WriteByte(tokOpaque)
		writeMBUint32(e.w, uint32(len(t.Data)))
		_, err := e.w.Write(t.Data)
		return err
	}
	return invalidf("token kind %v", t.Kind)
}

// WriteNode writes n and its subtree. An element with children is always
// written with the content bit, whatever n.HasContent says.
func (e *Encoder) WriteNode(n *Node) error {
	if e.err != nil {
		return e.err
	}
	if err := e.writeNode(n, 0); err != nil {
		e.err = err
		return err
	}
	return nil
}

func (e *Encoder) writeNode(n *Node, depth int) error {
	if n == nil {
		return invalidf("nil node")
	}
	if depth > maxEncodeDepth {
		return invalidf("tree deeper than %d (a cycle?)", maxEncodeDepth)
	}
	switch n.Kind {
	case TextNode:
		return e.writeToken(Token{Kind: Text, Data: []byte(n.Text)})
	case OpaqueNode:
		return e.writeToken(Token{Kind: Opaque, Data: n.Opaque})
	case ElementNode:
	default:
		return invalidf("node kind %d", n.Kind)
	}
	content := n.HasContent || len(n.Children) > 0
	if err := e.writeToken(Token{Kind: StartTag, Tag: Tag{Page: n.Page, Token: n.Tag}, HasContent: content, Switch: n.Switch}); err != nil {
		return err
	}
	if !content {
		return nil
	}
	for _, c := range n.Children {
		if err := e.writeNode(c, depth+1); err != nil {
			return err
		}
	}
	return e.writeToken(Token{Kind: EndTag})
}

// Flush writes buffered bytes to the underlying writer.
func (e *Encoder) Flush() error {
	if e.err != nil {
		return e.err
	}
	if err := e.w.Flush(); err != nil {
		e.err = err
		return err
	}
	return nil
}

// Close checks that the document is complete (a root element, everything
// closed) and flushes it.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if !e.rootDone {
		if e.open > 0 {
			e.err = invalidf("%d elements left open", e.open)
		} else {
			e.err = invalidf("no root element")
		}
		return e.err
	}
	return e.Flush()
}

// writeMBUint32 writes v in the shortest multi-byte form (WBXML 1.3 section
// 5.1).
func writeMBUint32(w *bufio.Writer, v uint32) {
	var buf [5]byte
	i := len(buf) - 1
	buf[i] = byte(v & 0x7F)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		buf[i] = byte(v&0x7F) | 0x80
	}
	w.Write(buf[i:])
}
