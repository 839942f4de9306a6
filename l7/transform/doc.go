// Package transform applies the gateway's email security to what the mail
// server sends a device: links rewritten for the managed secure browser,
// attachments blocked or encrypted, classified messages replaced. It works
// on the EAS responses that carry mail (Sync Add/Change, ItemOperations
// Fetch, Search and Find results, GetAttachment) and on every body form
// (AirSyncBase Body types 1, 2 and 4, the legacy Email:Body of protocol
// 2.5).
//
// A [Plan] is what applies to one request: built per device and user from
// the configured rules ([Rules.Plan]). With nothing to do, responses are
// not touched; with rules that match nothing, every response passes byte
// for byte: the WBXML walk re-encodes unchanged items exactly as they came
// (the codec's exact round trip), and the MIME walk copies unchanged parts
// verbatim.
//
// # Downloads
//
// An attachment list (a Sync, Search or Fetch item's AirSyncBase or
// legacy Email attachments) is decided attachment by attachment, and what
// it said of each attachment (display name and content type) is
// remembered under its file reference, per user and device. A download
// (GetAttachment, or an ItemOperations Fetch by FileReference, inline
// data or multipart) is decided by that memory under the rules in force
// when it is asked for: the strictest over the names its reference was
// listed under, and the download's own content type may only make it
// stricter. The reference's text is never read as a file name.
//
// One attachment is asked for in many forms: as listed ("1%3a11%3a1"),
// decoded once by the plain query ("1:11:1"), percent-encoded again, in
// the base64 query, in a Fetch. The memory keys them all alike, by
// [eas.FileReferenceKey]: decoded to a fixed point, '+' as space, ASCII
// case folded. That key is deliberately coarser than any server: two
// references it merges share their listings, and the strictest applies.
// Keys are per user and device: a reference listed to one user is unknown
// to every other.
//
// A reference the memory does not know, because it was never listed to
// this user and device, was listed before the gateway started, was
// forgotten (the memory holds 512 Ki references and forgets the oldest
// half when full) or was listed under more than 4 names, gets the unknown
// rule ([Plan.Unknown]): the strictest action of the device kind's rule
// set, its default and every rule's action, since an attachment of unknown
// name could match any of them; encrypt without a key is block. So a
// never-listed download is allowed only where the policy allows every
// attachment. Content is not sniffed: a file type read from bytes cannot
// stand in for the name the rules are written against, and the listed
// name is what the device shows. A Fetch result with content but no
// FileReference (a server that did not echo it) is a download of unknown
// name.
//
// # S/MIME
//
// With [Rules.SMIMEPassThrough] (the default) signatures are kept intact
// but S/MIME is no way around the policy:
//
//   - Signed mail (multipart/signed; IPM.Note.SMIME.MultipartSigned)
//     is classified like any mail (subject and headers): a blocked one is
//     replaced by the classification notice. In its MIME form (body type
//     4) nothing inside the signed content is rewritten: links stay as
//     they are, and when any attachment in it would be blocked or
//     encrypted the whole signed entity (the whole message, when it is
//     the top-level entity) is replaced by the attachment notice; else it
//     passes byte for byte. Encrypt counts as block here: encrypting
//     would break the signature, so the device would show a forged-looking
//     message, and passing the attachment in the clear would break the
//     policy. A type 1 or 2 body and the attachment list are the server's
//     rendering, which no signature covers: they are transformed like any
//     mail.
//   - Encrypted or opaque-signed S/MIME (application/pkcs7-mime;
//     IPM.Note.SMIME) cannot be read: it is classified by its headers,
//     and its content, attachments unknown, gets the unknown rule: it
//     passes untouched when that allows, else it is replaced by the
//     attachment notice. An S/MIME container in an attachment list
//     (smime.p7m, application/pkcs7-mime) gets the strictest of its own
//     decision and the unknown rule, at listing and at download.
//
// Without pass-through, S/MIME is transformed like any mail (signatures
// break), and application/pkcs7-mime content still gets the unknown rule.
//
// # Streaming
//
// Responses are walked token by token and written as they are read. Only
// one item at a time (the ApplicationData of a Sync Add or Change, the
// Properties of a Fetch or a Search result) is held, to rewrite its body and
// attachment list together, bounded by [Limits.MaxItemBytes]; an item over
// the bound fails the response (the client retries with a smaller window)
// rather than slip through unchecked. A MIME body the MIME walk cannot
// finish (nested or headed beyond its limits) is replaced by the notice,
// not passed. Signed MIME content is held whole
// to be checked before it is sent on (bounded; larger is replaced by the
// notice). Attachment downloads stream through the encrypter chunk by
// chunk. Nothing is stored.
//
// It must not know the config file or the proxy's HTTP handling: its rules
// are compiled from its own option types, and the proxy hands it the
// responses.
package transform
