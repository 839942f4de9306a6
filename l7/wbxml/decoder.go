package wbxml

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Decoder reads a WBXML document token by token. It holds the stack of open
// elements and at most one string or opaque value at a time, so its memory
// is bounded by [Limits] whatever the document size.
type Decoder struct {
	r   *bufio.Reader
	lim Limits

	off      int64 // bytes consumed, header included
	header   bool  // header read and checked
	page     uint8 // code page in effect
	stack    []Tag // elements opened with content, innermost last
	rootSeen bool
	done     bool // root element complete
	err      error
	nodes    int // nodes built by ReadElement, for MaxNodes
}

// NewDecoder returns a decoder reading from r. Zero fields of lim take their
// defaults.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &Decoder{r: br, lim: lim.withDefaults()}
}

// Offset returns how many bytes the decoder has consumed.
func (d *Decoder) Offset() int64 { return d.off }

// Depth returns how many elements are open.
func (d *Decoder) Depth() int { return len(d.stack) }

// Page returns the code page in effect.
func (d *Decoder) Page() uint8 { return d.page }

// Next returns the next token. After the root element closes it returns
// io.EOF, or an error if anything follows. Errors are sticky: once Next has
// failed it keeps returning the same error.
func (d *Decoder) Next() (Token, error) {
	if d.err != nil {
		return Token{}, d.err
	}
	t, err := d.next()
	if err != nil {
		d.err = err
	}
	return t, err
}

func (d *Decoder) next() (Token, error) {
	if !d.header {
		if err := d.readHeader(); err != nil {
			return Token{}, err
		}
		d.header = true
	}
	switched := false
	for {
		at := d.off
		b, err := d.readByte()
		if err == io.EOF {
			switch {
			case switched:
				return Token{}, d.errAt(at, "SWITCH_PAGE at end of input", ErrTruncated)
			case d.done:
				return Token{}, io.EOF
			case !d.rootSeen:
				return Token{}, d.errAt(at, "no root element", ErrTruncated)
			default:
				return Token{}, d.errAt(at, fmt.Sprintf("%d elements left open", len(d.stack)), ErrTruncated)
			}
		}
		if err != nil {
			return Token{}, err
		}
		if d.done {
			return Token{}, d.errAt(at, fmt.Sprintf("byte 0x%02X after the root element", b), ErrMalformed)
		}
		// Every global token has a low six-bit value below 0x05 (WBXML 1.3
		// section 7.1); anything else is a tag with its flag bits.
		isTag := b&0x3F >= MinToken
		if switched && !isTag {
			return Token{}, d.errAt(at, fmt.Sprintf("SWITCH_PAGE followed by 0x%02X, not a tag", b), ErrMalformed)
		}
		switch {
		case b == tokSwitchPage:
			p, err := d.readByte()
			if err != nil {
				return Token{}, d.eofAsTruncated(err, "SWITCH_PAGE without page")
			}
			d.page = p
			switched = true
			continue
		case b == tokEnd:
			if len(d.stack) == 0 {
				return Token{}, d.errAt(at, "END with no open element", ErrMalformed)
			}
			t := d.stack[len(d.stack)-1]
			d.stack = d.stack[:len(d.stack)-1]
			if len(d.stack) == 0 {
				d.done = true
			}
			return Token{Kind: EndTag, Tag: t}, nil
		case b == tokStrI:
			if len(d.stack) == 0 {
				return Token{}, d.errAt(at, "STR_I outside the root element", ErrMalformed)
			}
			s, err := d.readCString()
			if err != nil {
				return Token{}, err
			}
			return Token{Kind: Text, Data: s}, nil
		case b == tokOpaque:
			if len(d.stack) == 0 {
				return Token{}, d.errAt(at, "OPAQUE outside the root element", ErrMalformed)
			}
			data, err := d.readOpaque()
			if err != nil {
				return Token{}, err
			}
			return Token{Kind: Opaque, Data: data}, nil
		case !isTag:
			// The remaining global tokens: ENTITY, LITERAL*, EXT_*, PI.
			return Token{}, d.errAt(at, "global token "+globalTokenNames[b], ErrUnsupported)
		}
		tag := Tag{Page: d.page, Token: b & 0x3F}
		if b&flagAttributes != 0 {
			// No EAS code page defines attributes ([MS-ASWBXML] 2.1.2.1).
			return Token{}, d.errAt(at, "attributes on tag "+tag.Name(), ErrUnsupported)
		}
		if len(d.stack)+1 > d.lim.MaxDepth {
			return Token{}, d.errAt(at, fmt.Sprintf("element %s at depth %d, limit %d", tag.Name(), len(d.stack)+1, d.lim.MaxDepth), ErrTooDeep)
		}
		d.rootSeen = true
		content := b&flagContent != 0
		if content {
			d.stack = append(d.stack, tag)
		} else if len(d.stack) == 0 {
			d.done = true
		}
		return Token{Kind: StartTag, Tag: tag, HasContent: content, Switch: switched}, nil
	}
}

func (d *Decoder) readHeader() error {
	v, err := d.readByte()
	if err != nil {
		return d.eofAsTruncated(err, "header")
	}
	if v != Version {
		return d.errAt(0, fmt.Sprintf("version 0x%02X, want 0x03 (WBXML 1.3)", v), ErrUnsupported)
	}
	fields := []struct {
		name string
		want uint32
		err  error
	}{
		{"public identifier", uint32(PublicID), ErrUnsupported},
		{"charset", uint32(Charset), ErrUnsupported},
		{"string table length", 0, ErrUnsupported},
	}
	for _, f := range fields {
		at := d.off
		got, err := d.readMBUint32(f.name)
		if err != nil {
			return err
		}
		if got != f.want {
			return d.errAt(at, fmt.Sprintf("%s %d, want %d", f.name, got, f.want), f.err)
		}
	}
	return nil
}

func (d *Decoder) readByte() (byte, error) {
	if d.off >= d.lim.MaxSize {
		if _, err := d.r.Peek(1); err != nil {
			return 0, err
		}
		return 0, d.errAt(d.off, fmt.Sprintf("document larger than %d bytes", d.lim.MaxSize), ErrTooLarge)
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, err
	}
	d.off++
	return b, nil
}

// readMBUint32 reads a multi-byte integer (WBXML 1.3 section 5.1): 7 bits
// per byte, most significant first, high bit set on all but the last byte.
func (d *Decoder) readMBUint32(what string) (uint32, error) {
	at := d.off
	var v uint32
	for i := 0; ; i++ {
		b, err := d.readByte()
		if err != nil {
			return 0, d.eofAsTruncated(err, what)
		}
		if i == 0 && b == 0x80 {
			// A leading zero group: the same value has a shorter form,
			// and re-encoding could not reproduce these bytes.
			return 0, d.errAt(at, what+": multi-byte integer not in shortest form", ErrMalformed)
		}
		if i == 4 && v > 0x1FFFFFF {
			return 0, d.errAt(at, what+": multi-byte integer exceeds 32 bits", ErrMalformed)
		}
		v = v<<7 | uint32(b&0x7F)
		if b&0x80 == 0 {
			return v, nil
		}
		if i == 4 {
			return 0, d.errAt(at, what+": multi-byte integer exceeds 32 bits", ErrMalformed)
		}
	}
}

// readCString reads an inline string up to and excluding its NUL.
func (d *Decoder) readCString() ([]byte, error) {
	at := d.off
	var out []byte
	for {
		chunk, err := d.r.ReadSlice(0)
		n := len(chunk)
		if err == nil {
			n-- // the NUL is not part of the value
		}
		if len(out)+n > d.lim.MaxString {
			return nil, d.errAt(at, fmt.Sprintf("string longer than %d bytes", d.lim.MaxString), ErrTooLarge)
		}
		if d.off+int64(len(chunk)) > d.lim.MaxSize {
			return nil, d.errAt(at, fmt.Sprintf("document larger than %d bytes", d.lim.MaxSize), ErrTooLarge)
		}
		d.off += int64(len(chunk))
		out = append(out, chunk[:n]...)
		switch {
		case err == nil:
			if out == nil {
				out = []byte{}
			}
			return out, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			return nil, d.errAt(d.off, "STR_I without NUL terminator", ErrTruncated)
		default:
			return nil, err
		}
	}
}

func (d *Decoder) readOpaque() ([]byte, error) {
	at := d.off
	n, err := d.readMBUint32("OPAQUE length")
	if err != nil {
		return nil, err
	}
	if int64(n) > int64(d.lim.MaxOpaque) {
		return nil, d.errAt(at, fmt.Sprintf("opaque value of %d bytes, limit %d", n, d.lim.MaxOpaque), ErrTooLarge)
	}
	if d.off+int64(n) > d.lim.MaxSize {
		return nil, d.errAt(at, fmt.Sprintf("opaque value of %d bytes exceeds document limit %d", n, d.lim.MaxSize), ErrTooLarge)
	}
	// Grow the buffer as bytes arrive rather than trusting the declared
	// length: a short hostile input must not make us allocate MaxOpaque.
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, d.r, int64(n))
	d.off += got
	if err != nil {
		return nil, d.eofAsTruncated(err, fmt.Sprintf("OPAQUE of %d bytes, %d present", n, got))
	}
	if buf.Len() == 0 {
		return []byte{}, nil
	}
	return buf.Bytes(), nil
}

func (d *Decoder) errAt(off int64, msg string, sentinel error) error {
	return &SyntaxError{Offset: off, Msg: msg, Err: sentinel}
}

func (d *Decoder) eofAsTruncated(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return d.errAt(d.off, what+" cut short", ErrTruncated)
	}
	return err
}
