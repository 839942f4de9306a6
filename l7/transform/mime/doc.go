// Package mime transforms a mail message (RFC 5322, MIME RFC 2045/2046) as
// it streams from the mail server to a device: links in text parts are
// rewritten, attachments blocked or encrypted, classified mail replaced by
// a notice. The gateway never stores mail: [Transform] holds at most one
// header block and one text part (bounded by Options.MaxPartBytes);
// attachments flow through line by line.
//
// # What is kept
//
// Everything Transform does not change is copied byte for byte: header
// bytes (folding, order, duplicates), preambles, epilogues, boundary lines
// with their transport padding, encoded bodies and line endings, CRLF or
// LF. With the zero Options the output is the input.
//
// A text part whose Text function reports a change is re-encoded in its
// own transfer encoding (quoted-printable in lines of at most 76
// characters, base64 in lines of 76) and its own charset. Charsets whose
// ASCII bytes always mean ASCII are handed to Text untouched; others
// (UTF-16, Shift_JIS, ISO-2022-JP, ...) go through UTF-8 and back. When the
// new text holds a character the charset cannot represent, the part is
// sent in UTF-8 and its charset parameter says so. A 7bit part that gains
// 8-bit bytes becomes quoted-printable.
//
// A blocked attachment becomes an inline text/plain UTF-8 part holding
// Options.BlockedNotice, with an X-Enforcer-Blocked field naming the file;
// the multipart structure around it is unchanged. An encrypted attachment
// keeps its place and non-Content fields; it becomes
// application/octet-stream named "<file>.enc" (or "attachment.enc"), in
// base64, its body the attach stream format (see
// ../attach/FORMAT.md), with the original media type in
// X-Enforcer-Original-Type.
//
// # S/MIME
//
// Without Options.TransformSMIME, S/MIME signatures are kept intact but
// are no way around the policy. Classification applies to the top-level
// header of any message, signed or encrypted.
//
// A multipart/signed entity (RFC 1847; RFC 8551 section 3.5) is not
// rewritten: with no attachment policy it is copied as it comes; with
// one it is held (up to Options.MaxSignedBytes) and its attachments are
// decided in a dry run (its detached signature, the application/
// pkcs7-signature part directly under it, is not an attachment). When
// none would be blocked or encrypted it is sent on byte for byte, links
// unrewritten; else it is replaced whole by a text/plain part holding
// Options.BlockedNotice: at the top level the message keeps its fields
// other than Content-*, as for classification; further down (a signed
// mail forwarded as message/rfc822, a list footer around a signed body)
// the signed entity becomes a notice part, as a blocked attachment does,
// while the parts around it are transformed. Encrypt counts as block:
// encrypting an attachment would break the signature. Signed content over
// MaxSignedBytes cannot be checked and is replaced too.
//
// An application/pkcs7-mime or application/x-pkcs7-mime entity
// (enveloped, or opaque-signed: RFC 8551 section 3.2) cannot be read: it
// gets the strictest of Options.Opaque (the caller's rule for content it
// cannot see) and Attachment's answer on the entity. It is copied as it
// comes when that allows, else replaced by the notice in the same way.
//
// With TransformSMIME, signed content is transformed like any (the
// signature breaks) and pkcs7-mime entities are attachments, still
// subject to Opaque.
//
// # Malformed mail
//
// Parsing follows what mail readers accept, so that a sloppy message
// cannot carry an attachment past the policy: an unparseable Content-Type
// parameter list is read leniently, the first of duplicate fields counts,
// base64 skips foreign characters, quoted-printable keeps bad escapes, a
// missing close delimiter ends at the enclosing boundary or the end of
// input, and a part is policed under each file name it gives. What still
// cannot be understood (an unknown transfer encoding in a text part, a
// multipart without boundary) is copied as it is; an attachment to be
// encrypted in an unknown transfer encoding is encrypted as it is.
// Transform fails only on I/O errors, on o.Encrypt errors and when a
// message nests deeper than MaxDepth or has a header block over
// MaxHeaderBytes ([ErrLimit]); those limits are errors, not pass-through,
// because an attachment beyond them would escape the policy.
//
// It must not know EAS, WBXML or the proxy: package transform calls it.
package mime
