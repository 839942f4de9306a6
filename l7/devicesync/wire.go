package devicesync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailgate/enforcer/l7/device"
)

// RecordDoc is a device record on the wire and on disk (see the package
// documentation, "Device record"). Its fields are those of [device.Record]
// in snake_case.
type RecordDoc struct {
	DeviceID    string          `json:"device_id"`
	User        string          `json:"user,omitempty"`
	Managed     bool            `json:"managed,omitempty"`
	Compromised device.Fact     `json:"compromised,omitempty"`
	Encrypted   device.Fact     `json:"encrypted,omitempty"`
	Platform    string          `json:"platform,omitempty"`
	Model       string          `json:"model,omitempty"`
	OSVersion   string          `json:"os_version,omitempty"`
	LastCheckIn time.Time       `json:"last_check_in,omitzero"`
	EASProfile  bool            `json:"eas_profile,omitempty"`
	Override    device.Override `json:"override,omitempty"`
	Updated     time.Time       `json:"updated,omitzero"`
}

// RecordDocOf returns the wire form of r.
func RecordDocOf(r device.Record) RecordDoc {
	return RecordDoc{
		DeviceID:    r.DeviceID,
		User:        r.User,
		Managed:     r.Managed,
		Compromised: r.Compromised,
		Encrypted:   r.Encrypted,
		Platform:    r.Platform,
		Model:       r.Model,
		OSVersion:   r.OSVersion,
		LastCheckIn: r.LastCheckIn,
		EASProfile:  r.EASProfile,
		Override:    r.Override,
		Updated:     r.Updated,
	}
}

// Record returns the record d describes.
func (d RecordDoc) Record() device.Record {
	return device.Record{
		DeviceID:    d.DeviceID,
		User:        d.User,
		Managed:     d.Managed,
		Compromised: d.Compromised,
		Encrypted:   d.Encrypted,
		Platform:    d.Platform,
		Model:       d.Model,
		OSVersion:   d.OSVersion,
		LastCheckIn: d.LastCheckIn,
		EASProfile:  d.EASProfile,
		Override:    d.Override,
		Updated:     d.Updated,
	}
}

// PolicyDoc is the device compliance policy on the wire and on disk:
// [device.Config] in its JSON form, plus Updated, the time device
// management changed it, which orders policies that arrive out of order.
type PolicyDoc struct {
	// Revision shadows device.Config's so that the wire keeps its key
	// order (revision, updated, the rest): the stored encodings of equal
	// policies compare equal across versions (see order).
	Revision string    `json:"revision"`
	Updated  time.Time `json:"updated,omitzero"`
	policyConfig
}

// policyConfig names the embedded device.Config apart from the Config
// method.
type policyConfig = device.Config

// Config returns the policy configuration d describes.
func (d *PolicyDoc) Config() device.Config {
	c := d.policyConfig
	c.Revision = d.Revision
	return c
}

// Deletion is the removal of one device's record by device management at
// a time. On the wire it is either the bare device ID, a JSON string,
// which takes the time of the change it is part of, or an object
// {"device_id": "...", "deleted": "<RFC 3339>"}.
type Deletion struct {
	DeviceID string    `json:"device_id"`
	Deleted  time.Time `json:"deleted,omitzero"`
}

// UnmarshalJSON reads a device ID string or a deletion object.
func (d *Deletion) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*d = Deletion{}
		return json.Unmarshal(b, &d.DeviceID)
	}
	type plain Deletion
	var p plain
	if err := decodeStrict(bytes.NewReader(b), &p); err != nil {
		return err
	}
	*d = Deletion(p)
	return nil
}

// ChangeDoc is the body of POST /v1/devices/bulk: the wire form of
// [Change].
type ChangeDoc struct {
	// Upsert adds or updates records.
	Upsert []RecordDoc `json:"upsert,omitempty"`
	// Delete removes records.
	Delete []Deletion `json:"delete,omitempty"`
	// Replace makes Upsert a complete snapshot.
	Replace bool `json:"replace,omitempty"`
	// Policy, when not null, is the new policy.
	Policy *PolicyDoc `json:"policy,omitempty"`
	// Time is when device management made the change; default the time
	// the gateway receives it.
	Time time.Time `json:"time,omitzero"`
}

// Change returns the change d describes.
func (d *ChangeDoc) Change() Change {
	ch := Change{Delete: d.Delete, Replace: d.Replace, Policy: d.Policy, Time: d.Time}
	if len(d.Upsert) > 0 {
		ch.Upsert = make([]device.Record, len(d.Upsert))
		for i := range d.Upsert {
			ch.Upsert[i] = d.Upsert[i].Record()
		}
	}
	return ch
}

// PageDoc is one page of the pull protocol (see the package
// documentation, "Pull").
type PageDoc struct {
	// Cursor is the opaque position after this page; the next request
	// sends it back.
	Cursor string `json:"cursor"`
	// Full starts a complete snapshot: the records of this page and of the
	// pages that follow while More is true are every record device
	// management has.
	Full bool `json:"full,omitempty"`
	// Records are added or updated.
	Records []RecordDoc `json:"records,omitempty"`
	// Deleted are removed.
	Deleted []Deletion `json:"deleted,omitempty"`
	// Policy, when not null, is the policy in force.
	Policy *PolicyDoc `json:"policy,omitempty"`
	// Transforms, when present, is the email security document in force
	// (as PUT on /v1/transforms); null removes it, absent leaves it.
	Transforms json.RawMessage `json:"transforms,omitempty"`
	// More says that another page follows at once.
	More bool `json:"more,omitempty"`
	// Time is when the page (or the snapshot it starts) was taken at the
	// source; default the time the gateway applies it.
	Time time.Time `json:"time,omitzero"`
}

// decodeStrict decodes exactly one JSON value from r into v, refusing
// unknown fields and trailing data, and names the field at fault.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(&utf8Reader{r: r})
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonProblem(err)
		}
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// errNotUTF8 refuses a body that is not UTF-8 (RFC 8259 section 8.1).
// encoding/json would quietly turn the bad bytes into U+FFFD, so two
// device IDs in some legacy charset could become one record.
var errNotUTF8 = errors.New("body is not valid UTF-8; JSON must be UTF-8 (RFC 8259)")

// utf8Reader passes r through, failing at the first byte sequence that is
// not UTF-8. A sequence cut by a read boundary is checked with the next.
type utf8Reader struct {
	r    io.Reader
	buf  [4096]byte
	out  []byte            // checked, not yet delivered
	held [utf8.UTFMax]byte // an incomplete sequence that starts the next fill
	nh   int               // bytes in held
	err  error             // from r, returned once out is drained
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		copy(u.buf[:], u.held[:u.nh])
		n, err := u.r.Read(u.buf[u.nh:])
		n += u.nh
		keep := 0
		if err == nil {
			// Hold back a last sequence the next read may complete.
			for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
				if utf8.RuneStart(u.buf[i]) {
					if !utf8.FullRune(u.buf[i:n]) {
						keep = n - i
					}
					break
				}
			}
		}
		if !utf8.Valid(u.buf[:n-keep]) {
			u.out, u.err = nil, errNotUTF8
			return 0, u.err
		}
		u.out, u.err = u.buf[:n-keep], err
		u.nh = copy(u.held[:], u.buf[n-keep:n])
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

// jsonProblem rewords encoding/json's errors for an API client: Go type
// names mean nothing to them, field paths and offsets do.
func jsonProblem(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err // the handler maps it to 413
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return fmt.Errorf("field %s: JSON %s where %s was expected", field, te.Value, jsonKind(te.Type.Kind().String()))
	case errors.Is(err, io.EOF):
		return errors.New("empty body: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return errors.New(msg)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "an object or null"
	}
	return "a number"
}
