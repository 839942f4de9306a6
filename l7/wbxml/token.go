package wbxml

import "fmt"

// Global tokens of WBXML 1.3 section 7.1 that EAS uses.
const (
	tokSwitchPage byte = 0x00
	tokEnd        byte = 0x01
	tokStrI       byte = 0x03
	tokOpaque     byte = 0xC3

	// Flags of a tag byte (WBXML 1.3 section 5.8.2).
	flagContent    byte = 0x40
	flagAttributes byte = 0x80
)

// Header bytes EAS uses (the example of [MS-ASWBXML] section 3): WBXML 1.3,
// public identifier 1 ("unknown"), charset 106 (UTF-8, IANA MIBenum), then
// an empty string table.
const (
	Version  byte = 0x03
	PublicID byte = 0x01
	Charset  byte = 0x6A
)

// header is the four bytes every EAS WBXML document starts with.
var header = [4]byte{Version, PublicID, Charset, 0x00}

// globalTokenNames names the global tokens the decoder rejects, for error
// messages (WBXML 1.3 section 7.1).
var globalTokenNames = map[byte]string{
	0x02: "ENTITY", 0x04: "LITERAL",
	0x40: "EXT_I_0", 0x41: "EXT_I_1", 0x42: "EXT_I_2", 0x43: "PI", 0x44: "LITERAL_C",
	0x80: "EXT_T_0", 0x81: "EXT_T_1", 0x82: "EXT_T_2", 0x83: "STR_T", 0x84: "LITERAL_A",
	0xC0: "EXT_0", 0xC1: "EXT_1", 0xC2: "EXT_2", 0xC4: "LITERAL_AC",
}

// Kind says what a [Token] is.
type Kind uint8

// Token kinds.
const (
	// StartTag opens an element (a tag token, with or without content).
	StartTag Kind = iota + 1
	// EndTag closes the innermost element that was opened with content.
	EndTag
	// Text is an inline string (STR_I).
	Text
	// Opaque is opaque data (OPAQUE).
	Opaque
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case StartTag:
		return "StartTag"
	case EndTag:
		return "EndTag"
	case Text:
		return "Text"
	case Opaque:
		return "Opaque"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Token is one unit of a WBXML body as [Decoder.Next] returns it and
// [Encoder.WriteToken] accepts it.
type Token struct {
	Kind Kind
	// Tag is the element a StartTag opens or an EndTag closes. The encoder
	// ignores it on EndTag (it closes whatever is open).
	Tag Tag
	// HasContent (StartTag) is the content bit 0x40: the element has
	// children and an END token follows them. An element may carry the bit
	// with no children at all (tag|0x40 END), which is valid and kept.
	HasContent bool
	// Switch (StartTag) records an explicit SWITCH_PAGE token before the
	// tag, even one to the page already in effect. The encoder writes a
	// SWITCH_PAGE when Switch is set or when the page changes.
	Switch bool
	// Data is the string (without its NUL terminator) of a Text token, or
	// the bytes of an Opaque token. The decoder allocates it afresh for
	// every token.
	Data []byte
}

// Name returns the qualified name of the token's tag.
func (t Token) Name() string { return t.Tag.Name() }

// String describes the token for debugging: <Tag>, </Tag>, STR_I "..." or
// OPAQUE[n].
func (t Token) String() string {
	switch t.Kind {
	case StartTag:
		s := "<" + t.Tag.Name()
		if !t.HasContent {
			s += "/"
		}
		return s + ">"
	case EndTag:
		return "</" + t.Tag.Name() + ">"
	case Text:
		return fmt.Sprintf("STR_I %q", t.Data)
	case Opaque:
		return fmt.Sprintf("OPAQUE[%d]", len(t.Data))
	}
	return t.Kind.String()
}

// Limits bound what a decoder accepts, and so the memory it uses. A zero
// field takes its default.
type Limits struct {
	// MaxDepth is the deepest element nesting accepted (root = 1).
	// Default 64: the deepest EAS schema (ItemOperations fetch of a
	// calendar exception's attendee) is under 15 levels.
	MaxDepth int
	// MaxSize is the largest document, header included. Default 64 MiB,
	// room for a full-MIME mail (AirSyncBase:Body Type 4) with attachments
	// in one Sync or ItemOperations response.
	MaxSize int64
	// MaxString is the longest STR_I value. Default 32 MiB.
	MaxString int
	// MaxOpaque is the longest OPAQUE value. Default 32 MiB.
	MaxOpaque int
	// MaxNodes caps the nodes a tree decode builds. Default 1<<20. A node
	// costs about a hundred bytes while its smallest encoding is one byte,
	// so MaxSize alone would not bound tree memory. The streaming decoder
	// ignores it.
	MaxNodes int
}

// Default limits.
const (
	DefaultMaxDepth  = 64
	DefaultMaxSize   = 64 << 20
	DefaultMaxString = 32 << 20
	DefaultMaxOpaque = 32 << 20
	DefaultMaxNodes  = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxString <= 0 {
		l.MaxString = DefaultMaxString
	}
	if l.MaxOpaque <= 0 {
		l.MaxOpaque = DefaultMaxOpaque
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	return l
}
