package mime

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// lookupCharset finds a MIME charset label: IANA names first (so that
// ISO-8859-1 means ISO-8859-1), then the WHATWG labels browsers accept
// (cp1252, x-sjis, ...). It returns nil for a label neither knows.
func lookupCharset(label string) encoding.Encoding {
	label = strings.TrimSpace(label)
	if label == "" {
		return nil
	}
	if e, err := ianaindex.MIME.Encoding(label); err == nil && e != nil {
		return e
	}
	if e, err := htmlindex.Get(label); err == nil && e != nil {
		return e
	}
	return nil
}

// asciiSafe reports whether every byte below 0x80 in text of this
// encoding is the ASCII character, and never part of a multi-byte
// character. In such text, ASCII-only edits (links) can be made on the
// bytes as they are. UTF-8, the EUC encodings and ASCII-preserving single
// byte charsets qualify; Shift_JIS, Big5, GBK and GB18030 (trail bytes in
// 0x40..0x7E), ISO-2022-* (escape sequences), UTF-16/32 and EBCDIC do not.
func asciiSafe(e encoding.Encoding) bool {
	if cm, ok := e.(*charmap.Charmap); ok {
		for b := 0; b < 0x80; b++ {
			if cm.DecodeByte(byte(b)) != rune(b) {
				return false
			}
		}
		return true
	}
	name, err := ianaindex.MIME.Name(e)
	if err != nil {
		name, err = htmlindex.Name(e)
		if err != nil {
			return false
		}
	}
	switch strings.ToLower(name) {
	case "utf-8", "us-ascii", "euc-jp", "euc-kr":
		return true
	}
	return false
}

// charsetReader is the CharsetReader of RFC 2047 word decoding.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	e := lookupCharset(label)
	if e == nil {
		return nil, fmt.Errorf("unknown charset %q", label)
	}
	return e.NewDecoder().Reader(r), nil
}
