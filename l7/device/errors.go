package device

import (
	"errors"
	"fmt"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrInvalidPolicy is wrapped by every [PolicyError].
	ErrInvalidPolicy = errors.New("invalid device policy")
	// ErrInvalidRecord is wrapped by every [RecordError].
	ErrInvalidRecord = errors.New("invalid device record")
	// ErrDuplicateDevice reports two records with the same device ID in
	// one bulk replace.
	ErrDuplicateDevice = errors.New("duplicate device id")
	// ErrInvalidValue reports a name (action, override, characteristic,
	// fact) or OS version that could not be parsed.
	ErrInvalidValue = errors.New("invalid value")
)

// PolicyError is one problem in a [Config], naming the field as Go code
// would address it ("AllowedOS[2].Min").
type PolicyError struct {
	Field   string
	Value   string
	Problem string
}

func (e *PolicyError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("device policy: %s: %s", e.Field, e.Problem)
	}
	return fmt.Sprintf("device policy: %s %q: %s", e.Field, e.Value, e.Problem)
}

// Unwrap returns ErrInvalidPolicy.
func (e *PolicyError) Unwrap() error { return ErrInvalidPolicy }

// RecordError is a problem with one device record.
type RecordError struct {
	DeviceID string
	Field    string
	Problem  string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("device record %q: %s: %s", e.DeviceID, e.Field, e.Problem)
}

// Unwrap returns ErrInvalidRecord.
func (e *RecordError) Unwrap() error { return ErrInvalidRecord }
