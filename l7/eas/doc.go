// Package eas extracts the identity of an Exchange ActiveSync request: the
// command, user, device and protocol details the compliance engine decides
// on ([MS-ASHTTP] section 2.2.1.1).
//
// A client names these in one of two query forms:
//
//   - the plain text query, ?Cmd=Sync&User=..&DeviceId=..&DeviceType=..
//     (section 2.2.1.1.1.2), with the protocol version and policy key in the
//     MS-ASProtocolVersion and X-MS-PolicyKey headers;
//   - the base64-encoded query of protocol 12.1 and later (section
//     2.2.1.1.1.1), a byte sequence carrying version, command code, locale,
//     device id, policy key, device type and tagged command parameters.
//
// [ParseQuery] reads either form into a [Query]; [Parse] and [ParseRequest]
// add the headers (protocol version, policy key, User-Agent, the user of
// Basic authentication) and resolve them into a [Request]. [Query.EncodeBase64]
// and [Query.EncodePlain] write a query back, for tests and for the proxy's
// rewriting of 451 redirects.
//
// # Strictness
//
// The gateway decides on these values while the mail server acts on them, so
// any ambiguity between the two is a way around policy. The parser therefore
// rejects, with a typed error, what a lenient server might read differently:
// a parameter given twice (in either form, names compared without regard to
// case, as IIS does), an unknown command, an unknown tag in the base64
// form, unknown Options bits, a policy key that is neither 0 nor 4 bytes,
// and repeated identity headers. Unknown plain-text parameters are ignored:
// they name nothing the identity depends on.
//
// # Device IDs
//
// Section 2.2.1.1.1.1 allows the base64 form to carry the device ID as a
// string or as a GUID. A device ID whose bytes are not all printable ASCII is
// kept as upper-case hex with [Query.DeviceIDBinary] set, so that logs and
// policy look-ups see text and re-encoding restores the original bytes.
//
// # File references
//
// Attachments are named by file references that the mail server hands
// out percent-encoded and reads back decoded, as many times as it likes;
// [FileReferenceKey] gives the one key under which every form of a
// reference meets.
//
// # Users
//
// User names keep the form the client sent, DOMAIN\user or user@domain;
// [NormalizeUser] gives the case-folded key for matching and [SplitUser]
// separates the parts.
//
// It knows the EAS wire formats only: no devices, no policy, no proxying.
package eas
