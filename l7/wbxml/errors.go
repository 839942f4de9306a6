package wbxml

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of them, so
// callers branch with errors.Is; [*SyntaxError] adds where it happened.
var (
	// ErrTruncated: the input ended inside the header, a token, a value or
	// an open element.
	ErrTruncated = errors.New("truncated wbxml")
	// ErrMalformed: the bytes break the WBXML 1.3 grammar.
	ErrMalformed = errors.New("malformed wbxml")
	// ErrUnsupported: valid WBXML that EAS does not use (attributes,
	// extensions, entities, literals, processing instructions, string
	// tables, other versions or charsets).
	ErrUnsupported = errors.New("wbxml feature not used by eas")
	// ErrTooDeep: elements nest deeper than [Limits.MaxDepth].
	ErrTooDeep = errors.New("wbxml nesting too deep")
	// ErrTooLarge: the document, a string, an opaque value or the number of
	// nodes exceeds [Limits].
	ErrTooLarge = errors.New("wbxml too large")
	// ErrInvalid: the encoder was asked to write something WBXML cannot
	// express (a tag token out of range, NUL inside a string, an END with no
	// open element, a second root...).
	ErrInvalid = errors.New("invalid wbxml token sequence")
)

// SyntaxError reports where decoding stopped and why.
type SyntaxError struct {
	// Offset is the position of the offending byte from the start of the
	// document (header included).
	Offset int64
	// Msg says what was wrong.
	Msg string
	// Err is one of the sentinel errors above.
	Err error
}

// Error formats the offset, message and sentinel.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("wbxml offset %d: %s: %v", e.Offset, e.Msg, e.Err)
}

// Unwrap returns the sentinel.
func (e *SyntaxError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}
