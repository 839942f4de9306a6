package eas

import (
	"errors"
	"fmt"
)

// Sentinel errors; every error the package returns wraps one, inside a
// [*FieldError] that says which field and where.
var (
	// ErrMissing: a required parameter or field is absent or empty.
	ErrMissing = errors.New("missing")
	// ErrTruncated: the base64 query's bytes end inside a field.
	ErrTruncated = errors.New("truncated")
	// ErrBadBase64: the query is neither plain text nor valid base64.
	ErrBadBase64 = errors.New("bad base64")
	// ErrUnknownCommand: a command name or code not in [MS-ASHTTP]
	// section 2.2.1.1.1.1.2.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrUnknownParameter: a base64 parameter tag not in section
	// 2.2.1.1.1.1.3.
	ErrUnknownParameter = errors.New("unknown parameter")
	// ErrDuplicate: a parameter or identity header given more than once.
	ErrDuplicate = errors.New("given more than once")
	// ErrBadValue: a value of the wrong length or syntax.
	ErrBadValue = errors.New("bad value")
	// ErrBadAuthorization: an Authorization: Basic header that does not
	// decode to user:password.
	ErrBadAuthorization = errors.New("bad authorization header")
)

// FieldError locates a problem in a query or header.
type FieldError struct {
	// Field names the parameter, header or binary field ("DeviceId",
	// "X-MS-PolicyKey", "policy key length", ...).
	Field string
	// Offset is the byte position in the decoded base64 query, or -1.
	Offset int
	// Detail says what was found.
	Detail string
	// Err is one of the sentinels.
	Err error
}

// Error formats field, offset, detail and sentinel:
// "eas DeviceId at byte 4: need 10 bytes, 3 left: truncated".
func (e *FieldError) Error() string {
	s := "eas " + e.Field
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at byte %d", e.Offset)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, err error, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Offset: -1, Detail: fmt.Sprintf(format, args...), Err: err}
}

func binErr(field string, off int, err error, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Offset: off, Detail: fmt.Sprintf(format, args...), Err: err}
}
