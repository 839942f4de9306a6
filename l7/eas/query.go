package eas

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Form says which query form a request used.
type Form uint8

// Query forms.
const (
	// FormPlain is ?Cmd=..&User=..&DeviceId=..&DeviceType=.. ([MS-ASHTTP]
	// 2.2.1.1.1.2).
	FormPlain Form = iota + 1
	// FormBase64 is the base64-encoded byte sequence of protocol 12.1 and
	// later (2.2.1.1.1.1).
	FormBase64
)

// String returns "plain" or "base64".
func (f Form) String() string {
	switch f {
	case FormPlain:
		return "plain"
	case FormBase64:
		return "base64"
	}
	return "unknown"
}

// Query is what the request URI says about a request.
type Query struct {
	Form    Form
	Command Command
	// User is the User parameter, as sent; often absent from base64
	// queries, where the Authorization header names the user.
	User string
	// DeviceID is the DeviceId, as sent, or upper-case hex when
	// DeviceIDBinary is set.
	DeviceID string
	// DeviceIDBinary marks a base64-form device ID that was not printable
	// ASCII (a GUID, section 2.2.1.1.1.1); DeviceID then holds its hex.
	DeviceIDBinary bool
	DeviceType     string

	// Version, Locale and the policy key exist only in the base64 form; the
	// plain form sends version and policy key as headers.
	Version      Version
	Locale       uint16
	PolicyKey    uint32
	HasPolicyKey bool

	// Command parameters ([MS-ASHTTP] 2.2.1.1.1.2.5 and 2.2.1.1.1.1.3).
	//
	// AttachmentName is GetAttachment's file reference as the query
	// carries it: percent-decoded once in the plain form, raw in the
	// base64 form. Compare references by [FileReferenceKey], never as
	// strings: the mail server decodes them further.
	AttachmentName string
	CollectionID   string
	ItemID         string
	LongID         string
	Occurrence     string
	// SaveInSent is SaveInSent=T (plain) or Options bit 0x01 (base64).
	SaveInSent bool
	// AcceptMultiPart is Options bit 0x02 (base64 only; the plain form
	// uses the MS-ASAcceptMultiPart header).
	AcceptMultiPart bool
}

// Parameter tags of the base64 form ([MS-ASHTTP] 2.2.1.1.1.1.3).
const (
	tagAttachmentName = 0
	tagCollectionID   = 1
	tagItemID         = 3
	tagLongID         = 4
	tagOccurrence     = 6
	tagOptions        = 7
	tagUser           = 8
)

// Options bits of the base64 form.
const (
	optSaveInSent      = 0x01
	optAcceptMultiPart = 0x02
)

// paramTags lists the base64 parameter tags and their names, in tag order
// ([MS-ASHTTP] 2.2.1.1.1.1.3; tags 2 and 5 are unassigned).
var paramTags = []struct {
	tag  int
	name string
}{
	{tagAttachmentName, "AttachmentName"},
	{tagCollectionID, "CollectionId"},
	{tagItemID, "ItemId"},
	{tagLongID, "LongId"},
	{tagOccurrence, "Occurrence"},
	{tagOptions, "Options"},
	{tagUser, "User"},
}

func paramName(tag byte) string {
	for _, p := range paramTags {
		if p.tag == int(tag) {
			return p.name
		}
	}
	return ""
}

// stringParam returns the field of q a string parameter fills.
func (q *Query) stringParam(tag byte) *string {
	switch tag {
	case tagAttachmentName:
		return &q.AttachmentName
	case tagCollectionID:
		return &q.CollectionID
	case tagItemID:
		return &q.ItemID
	case tagLongID:
		return &q.LongID
	case tagOccurrence:
		return &q.Occurrence
	case tagUser:
		return &q.User
	}
	return nil
}

// ParseQuery reads the raw query of an EAS request URI (the part after '?',
// still percent-encoded) in either form.
func ParseQuery(raw string) (*Query, error) {
	if raw == "" {
		return nil, fieldErr("query", ErrMissing, "no query string")
	}
	// A base64 query holds no '&' and no "Cmd=" (its only '=' is padding
	// at the end), so a Cmd key means the plain form.
	vals, perr := url.ParseQuery(raw)
	for k := range vals {
		if strings.EqualFold(k, "Cmd") {
			if perr != nil {
				return nil, fieldErr("query", ErrBadValue, "%v", perr)
			}
			return parsePlain(vals)
		}
	}
	return DecodeBase64Query(raw)
}

func parsePlain(vals url.Values) (*Query, error) {
	// IIS matches parameter names without regard to case and joins
	// repeated values with commas; reject any repetition so the server
	// cannot read a different device or user than we do.
	got := map[string]string{}
	for k, vs := range vals {
		key := strings.ToLower(k)
		if _, dup := got[key]; dup || len(vs) > 1 {
			return nil, fieldErr(k, ErrDuplicate, "")
		}
		got[key] = vs[0]
	}
	q := &Query{Form: FormPlain}
	name := got["cmd"]
	c, ok := ParseCommand(name)
	if !ok {
		if name == "" {
			return nil, fieldErr("Cmd", ErrMissing, "")
		}
		return nil, fieldErr("Cmd", ErrUnknownCommand, "%q", name)
	}
	q.Command = c
	q.User = got["user"]
	q.DeviceID = got["deviceid"]
	q.DeviceType = got["devicetype"]
	q.AttachmentName = got["attachmentname"]
	q.CollectionID = got["collectionid"]
	q.ItemID = got["itemid"]
	q.LongID = got["longid"]
	q.Occurrence = got["occurrence"]
	switch v, ok := got["saveinsent"]; {
	case !ok, v == "F":
	case v == "T":
		q.SaveInSent = true
	default:
		return nil, fieldErr("SaveInSent", ErrBadValue, "%q, want T or F", v)
	}
	if err := q.checkRequired(); err != nil {
		return nil, err
	}
	return q, nil
}

// checkRequired enforces the parameters every request carries ([MS-ASHTTP]
// 2.2.1.1.1.2: Cmd, User, DeviceId, DeviceType; the user may come from the
// Authorization header instead, so it is checked by the caller's policy).
func (q *Query) checkRequired() error {
	if q.DeviceID == "" {
		return fieldErr("DeviceId", ErrMissing, "")
	}
	// The device ID keys the device's record, its discovery entry and
	// the JSON and CSV exports: bytes that are not text would be
	// mangled there, and two devices could share one record.
	if !utf8.ValidString(q.DeviceID) {
		return fieldErr("DeviceId", ErrBadValue, "%q is not valid UTF-8", q.DeviceID)
	}
	if strings.IndexFunc(q.DeviceID, unicode.IsControl) >= 0 {
		return fieldErr("DeviceId", ErrBadValue, "%q contains a control character", q.DeviceID)
	}
	if q.DeviceType == "" {
		return fieldErr("DeviceType", ErrMissing, "")
	}
	return nil
}

// DecodeBase64Query decodes a base64-encoded query value as it appears in
// the URI, percent-encoding allowed, padding optional.
func DecodeBase64Query(raw string) (*Query, error) {
	// PathUnescape, not QueryUnescape: '+' is a base64 digit, not a space.
	s, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fieldErr("query", ErrBadBase64, "%v", err)
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fieldErr("query", ErrBadBase64, "%v", err)
	}
	q := new(Query)
	if err := q.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return q, nil
}

// UnmarshalBinary decodes the byte sequence of the base64 query ([MS-ASHTTP]
// 2.2.1.1.1.1) and sets q.Form to FormBase64.
func (q *Query) UnmarshalBinary(b []byte) error {
	*q = Query{Form: FormBase64}
	r := binReader{b: b}
	ver, err := r.byte("protocol version")
	if err != nil {
		return err
	}
	q.Version = versionFromByte(ver)
	at := r.off
	code, err := r.byte("command code")
	if err != nil {
		return err
	}
	if q.Command = Command(code); !q.Command.Known() {
		return binErr("command code", at, ErrUnknownCommand, "%d", code)
	}
	loc, err := r.bytes("locale", 2)
	if err != nil {
		return err
	}
	q.Locale = binary.LittleEndian.Uint16(loc)

	at = r.off
	id, err := r.lenPrefixed("DeviceId")
	if err != nil {
		return err
	}
	if len(id) == 0 {
		// "This value MUST be greater than 0."
		return binErr("DeviceId", at, ErrMissing, "length 0")
	}
	q.DeviceID, q.DeviceIDBinary = deviceIDString(id)

	at = r.off
	pk, err := r.lenPrefixed("policy key")
	if err != nil {
		return err
	}
	switch len(pk) {
	case 0:
	case 4:
		q.PolicyKey = binary.LittleEndian.Uint32(pk)
		q.HasPolicyKey = true
	default:
		return binErr("policy key length", at, ErrBadValue, "%d, want 0 or 4", len(pk))
	}

	at = r.off
	dt, err := r.lenPrefixed("DeviceType")
	if err != nil {
		return err
	}
	if len(dt) == 0 {
		return binErr("DeviceType", at, ErrMissing, "length 0")
	}
	q.DeviceType = string(dt)

	seen := map[byte]bool{}
	for !r.done() {
		at := r.off
		tag, _ := r.byte("parameter tag")
		name := paramName(tag)
		if name == "" {
			return binErr("parameter tag", at, ErrUnknownParameter, "%d", tag)
		}
		val, err := r.lenPrefixed(name)
		if err != nil {
			return err
		}
		if seen[tag] {
			return binErr(name, at, ErrDuplicate, "")
		}
		seen[tag] = true
		if tag == tagOptions {
			// "A single-byte bitmask" (2.2.1.1.1.1.3).
			if len(val) != 1 {
				return binErr(name, at, ErrBadValue, "length %d, want 1", len(val))
			}
			if val[0]&^(optSaveInSent|optAcceptMultiPart) != 0 {
				return binErr(name, at, ErrBadValue, "unknown bits in 0x%02X", val[0])
			}
			q.SaveInSent = val[0]&optSaveInSent != 0
			q.AcceptMultiPart = val[0]&optAcceptMultiPart != 0
			continue
		}
		*q.stringParam(tag) = string(val)
	}
	return nil
}

// MarshalBinary encodes q as the byte sequence of the base64 query, with the
// parameters in tag order. It fails for what the form cannot express: an
// unknown command, a version beyond 25.5, a field or parameter longer than
// 255 bytes, a missing device ID or type.
func (q *Query) MarshalBinary() ([]byte, error) {
	ver, ok := q.Version.byteValue()
	if !ok {
		return nil, fieldErr("protocol version", ErrBadValue, "%s does not fit one byte", q.Version)
	}
	if !q.Command.Known() {
		return nil, fieldErr("command code", ErrUnknownCommand, "%d", q.Command)
	}
	if err := q.checkRequired(); err != nil {
		return nil, err
	}
	b := []byte{ver, q.Command.Code(), byte(q.Locale), byte(q.Locale >> 8)}
	id := []byte(q.DeviceID)
	if q.DeviceIDBinary {
		var err error
		if id, err = hex.DecodeString(q.DeviceID); err != nil {
			return nil, fieldErr("DeviceId", ErrBadValue, "binary device id is not hex: %v", err)
		}
	}
	var err error
	if b, err = appendLenPrefixed(b, "DeviceId", id); err != nil {
		return nil, err
	}
	if q.HasPolicyKey {
		b = append(b, 4)
		b = binary.LittleEndian.AppendUint32(b, q.PolicyKey)
	} else {
		b = append(b, 0)
	}
	if b, err = appendLenPrefixed(b, "DeviceType", []byte(q.DeviceType)); err != nil {
		return nil, err
	}
	for _, p := range paramTags {
		tag := byte(p.tag)
		if tag == tagOptions {
			var opt byte
			if q.SaveInSent {
				opt |= optSaveInSent
			}
			if q.AcceptMultiPart {
				opt |= optAcceptMultiPart
			}
			if opt != 0 {
				b = append(b, tag, 1, opt)
			}
			continue
		}
		v := *q.stringParam(tag)
		if v == "" {
			continue
		}
		b = append(b, tag)
		if b, err = appendLenPrefixed(b, p.name, []byte(v)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// EncodeBase64 returns the base64 query value ready to follow '?' in a URI:
// padded standard base64 with '+', '/' and '=' percent-encoded, so that no
// query parser can mistake them for a space or a separator.
func (q *Query) EncodeBase64() (string, error) {
	b, err := q.MarshalBinary()
	if err != nil {
		return "", err
	}
	s := base64.StdEncoding.EncodeToString(b)
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(s), nil
}

// EncodePlain returns the plain text query, Cmd, User, DeviceId and
// DeviceType first. Version, locale, policy key and AcceptMultiPart have no
// place in it (they travel as headers) and are left out.
func (q *Query) EncodePlain() string {
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + url.QueryEscape(v))
	}
	add("Cmd", q.Command.String())
	if q.User != "" {
		add("User", q.User)
	}
	add("DeviceId", q.DeviceID)
	add("DeviceType", q.DeviceType)
	for _, p := range []struct{ k, v string }{
		{"AttachmentName", q.AttachmentName}, {"CollectionId", q.CollectionID},
		{"ItemId", q.ItemID}, {"LongId", q.LongID}, {"Occurrence", q.Occurrence},
	} {
		if p.v != "" {
			add(p.k, p.v)
		}
	}
	if q.SaveInSent {
		add("SaveInSent", "T")
	}
	return b.String()
}

// Encode returns the query in its own form.
func (q *Query) Encode() (string, error) {
	if q.Form == FormPlain {
		return q.EncodePlain(), nil
	}
	return q.EncodeBase64()
}

func deviceIDString(b []byte) (string, bool) {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return strings.ToUpper(hex.EncodeToString(b)), true
		}
	}
	return string(b), false
}

func appendLenPrefixed(b []byte, field string, v []byte) ([]byte, error) {
	if len(v) > 255 {
		return nil, fieldErr(field, ErrBadValue, "%d bytes, the base64 form holds at most 255", len(v))
	}
	b = append(b, byte(len(v)))
	return append(b, v...), nil
}

// binReader walks the decoded base64 query and reports truncation with the
// field and offset.
type binReader struct {
	b   []byte
	off int
}

func (r *binReader) done() bool { return r.off >= len(r.b) }

func (r *binReader) byte(field string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, binErr(field, r.off, ErrTruncated, "input ends")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *binReader) bytes(field string, n int) ([]byte, error) {
	if len(r.b)-r.off < n {
		return nil, binErr(field, r.off, ErrTruncated, "need %d bytes, %d left", n, len(r.b)-r.off)
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

// lenPrefixed reads a one-byte length and that many bytes.
func (r *binReader) lenPrefixed(field string) ([]byte, error) {
	n, err := r.byte(field + " length")
	if err != nil {
		return nil, err
	}
	return r.bytes(field, int(n))
}
