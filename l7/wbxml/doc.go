// Package wbxml encodes and decodes WAP Binary XML 1.3 as Exchange ActiveSync
// uses it ([MS-ASWBXML], on top of the WAP Forum's WBXML 1.3 specification).
//
// The package offers two layers:
//
//   - A streaming layer: [Decoder.Next] returns one [Token] at a time and
//     [Encoder.WriteToken] writes one. Memory use is bounded by [Limits]
//     (the open-element stack and the largest single string or opaque value),
//     so the proxy can rewrite large responses as they flow.
//   - A tree layer built on the streaming one: [Decode] and [Encode] convert
//     between bytes and a [Node] tree, and [Elem], [ElemText] and friends build
//     documents programmatically.
//
// # Exactness
//
// For every input that decodes, Encode(Decode(b)) reproduces b byte for byte,
// and so does piping every token from a Decoder into an Encoder. To make that
// possible the model records the two choices WBXML leaves to the encoder:
//
//   - where SWITCH_PAGE tokens appeared ([Node.Switch], [Token.Switch]),
//     including redundant switches to the page already in effect;
//   - whether an element without children was encoded as a bare tag or as
//     tag|0x40 followed by END ([Node.HasContent], [Token.HasContent]).
//
// Text keeps its form: STR_I becomes a [TextNode], OPAQUE an [OpaqueNode];
// consecutive strings are kept as separate nodes. Strings are not checked for
// valid UTF-8: the proxy passes through what the mail server sent.
//
// # What is rejected, and why
//
// EAS uses a small subset of WBXML: the overview of [MS-ASWBXML] lists tag
// tokens, code pages, inline strings and opaque data as used, and string
// tables, entities, processing instructions and attributes as not used. The
// decoder accepts exactly that subset and rejects the rest with a typed
// error rather than guessing:
//
//   - The header must be version 0x03, public identifier 0x01, charset 0x6A
//     (UTF-8) and a string table of length 0, as in the example of
//     [MS-ASWBXML] section 3. Accepting a string table would mean honouring
//     STR_T references into a table held in memory for the whole stream; a
//     non-empty table is [ErrUnsupported].
//   - Attributes (tag bit 0x80) and the global tokens ENTITY, LITERAL*,
//     EXT_*, PI and STR_T are [ErrUnsupported]: no EAS code page defines
//     attributes or extensions.
//   - Multi-byte integers (mb_u_int32, WBXML 1.3 section 5.1) must use the
//     shortest form. A padded length such as 0x80 0x03 could not be
//     reproduced byte for byte and only comes from broken or hostile
//     encoders; it is [ErrMalformed].
//   - A SWITCH_PAGE must be followed by a tag (WBXML 1.3 section 5.3, the
//     grammar allows one optional switchPage before stag), text must sit
//     inside the root element, and nothing may follow the root element.
//
// # Names
//
// Elements are named "Namespace:Tag", for example "AirSync:Sync" or
// "AirSyncBase:Body", after the code page tables of [MS-ASWBXML] section
// 2.1.2.1. A token that no table defines still decodes and round-trips; it is
// named after its page and hex value, "AirSync:0x3A", and a page beyond the
// EAS range is named by its number too, "0x1A:0x05". [LookupTag] accepts all
// three forms, so any name this package prints can be turned back into a tag.
//
// It knows WBXML and the EAS code pages only: not what a command means,
// nor any policy.
package wbxml
