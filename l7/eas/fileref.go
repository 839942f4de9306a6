package eas

// MaxFileReferenceRounds bounds how many layers of percent-encoding
// [FileReferenceKey] peels off. Each layer is one more round of
// decoding by someone; a reference still encoded after this many is not
// something a mail server handed out.
const MaxFileReferenceRounds = 8

// FileReferenceKey returns the canonical form of an attachment's file
// reference (AirSyncBase:FileReference, [MS-ASAIRS] 2.2.2.24; the legacy
// Email:AttName; GetAttachment's AttachmentName, [MS-ASCMD] 2.2.3.14),
// so that every way a client can ask for one attachment meets the
// decision its listing got.
//
// Exchange hands references out percent-encoded ("5%3a3%3a0" for
// 5:3:0) and reads them back decoded any number of times: the plain query
// is decoded once by IIS, and the reference again by Exchange, so
// AttachmentName=5%3a3%3a0 (decoded to 5:3:0 before Exchange sees it),
// 5%253a3%253a0 and the base64 query's raw 5%3a3%3a0 all fetch the same
// attachment. The key is therefore the reference decoded to its fixed
// point, '+' read as a space (the form decoding of query strings) and
// ASCII letters folded: every step a server might apply is applied, so
// two requests the server takes for one attachment always share a key.
// The key is coarser than the server: two references the server keeps
// apart may share one (5%253a0 and 5%3a0, or references differing in
// case). Callers must treat a shared key as naming all of them and give
// it the strictest of their decisions; they must never let one
// reference's decision stand for another's.
//
// Malformed escapes ("%zz", a trailing "%") stay as they are, as servers
// leave them. ok is false for an empty reference and for one still
// changing after MaxFileReferenceRounds rounds of decoding.
func FileReferenceKey(ref string) (key string, ok bool) {
	if ref == "" {
		return "", false
	}
	b := []byte(ref)
	for round := 0; ; round++ {
		next, changed := unescapeLenient(b)
		if !changed {
			break
		}
		if round == MaxFileReferenceRounds {
			return "", false
		}
		b = next
	}
	for i, c := range b {
		switch {
		case c == '+':
			b[i] = ' '
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}

// unescapeLenient decodes every valid %XX escape of b into a new slice
// and leaves malformed ones as they are; changed is false when b holds
// no valid escape.
func unescapeLenient(b []byte) (out []byte, changed bool) {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' && ishex(b[i+1]) && ishex(b[i+2]) {
			changed = true
			break
		}
	}
	if !changed {
		return b, false
	}
	out = make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) && ishex(b[i+1]) && ishex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		out = append(out, b[i])
	}
	return out, true
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
