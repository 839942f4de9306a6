package devicesync

import (
	"errors"
	"fmt"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrInvalidChange is wrapped by every [ChangeError]: Apply refused
	// the whole change and wrote nothing.
	ErrInvalidChange = errors.New("invalid device change")
	// ErrLocked reports that another process has the database open.
	ErrLocked = errors.New("device database locked by another process")
	// ErrCorrupt reports a database file bbolt cannot read, or one whose
	// contents this build cannot decode.
	ErrCorrupt = errors.New("device database corrupt")
	// ErrSchema reports a database written by a newer build.
	ErrSchema = errors.New("device database schema too new")
	// ErrClosed reports a call on a closed DB.
	ErrClosed = errors.New("device database closed")
)

// ChangeError is the first problem found in a [Change]: which list and
// entry, which device, which field (as the wire format names it).
type ChangeError struct {
	// List is "upsert", "delete", "policy" or "change".
	List string
	// Index is the entry's position in List; -1 for the policy and the
	// change itself.
	Index int
	// DeviceID is the entry's device ID, "" for the policy.
	DeviceID string
	// Field is the wire name of the field at fault ("last_check_in",
	// "allowed_os[2].min").
	Field string
	// Problem says what is wrong and, where it helps, what to do.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

func (e *ChangeError) Error() string {
	where := e.List
	if e.Index >= 0 {
		where = fmt.Sprintf("%s[%d]", e.List, e.Index)
	}
	if e.DeviceID != "" {
		where += fmt.Sprintf(" (device %q)", e.DeviceID)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Field, e.Problem)
}

// Unwrap returns ErrInvalidChange and Err.
func (e *ChangeError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidChange, e.Err}
	}
	return []error{ErrInvalidChange}
}

// HTTPStatusError is a pull response with a status other than 200 OK.
type HTTPStatusError struct {
	URL    string
	Status int
	// Body is the start of the response body, for the log.
	Body string
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("pull %s: HTTP status %d: %s", e.URL, e.Status, e.Body)
}
