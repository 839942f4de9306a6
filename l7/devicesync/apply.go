package devicesync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/mailgate/enforcer/l7/device"
)

// Limits on the values of a record; longer values are refused, so that one
// device cannot make every look-up or export expensive.
const (
	// MaxDeviceIDLen bounds a device ID, in bytes.
	MaxDeviceIDLen = 256
	// MaxFieldLen bounds the other text fields of a record, in bytes.
	MaxFieldLen = 1024
)

// Change is one set of changes from device management, applied whole or
// not at all (see [DB.Apply]).
type Change struct {
	// Upsert adds or updates records. A record whose Updated time is zero
	// takes the change's Time.
	Upsert []device.Record
	// Delete removes records. A deletion whose time is zero takes the
	// change's Time.
	Delete []Deletion
	// Replace makes Upsert a complete snapshot taken at Time: every record
	// not in it and not updated after Time is deleted.
	Replace bool
	// More, only with a pull cursor, says that more pages of the same pull
	// sequence follow. A snapshot begun by Replace with More set stays
	// open, in the file, across restarts; the records of the changes that
	// follow join it, and the first change of the sequence without More
	// completes it.
	More bool
	// Policy, when not nil, is the new policy. Its Updated time, zero for
	// the change's Time, orders it against the stored one.
	Policy *PolicyDoc
	// Time is when device management made the change. Default (zero) the
	// time Apply runs.
	Time time.Time
	// Transforms, when not nil, replaces the stored email security
	// document (see SetTransforms) in the change's transaction; the JSON
	// literal null removes it. The caller has checked it
	// (TransformsHook.Check) and puts it in force after (Apply).
	Transforms json.RawMessage
}

// Result counts what a change did. The policy is not counted; see Policy.
type Result struct {
	// Upserted is the number of records added or updated.
	Upserted int `json:"upserted"`
	// Deleted is the number of records removed, by deletions and by
	// snapshots.
	Deleted int `json:"deleted"`
	// Stale is the number of records and deletions ignored because the
	// database already held a newer state of their device.
	Stale int `json:"stale"`
	// Unchanged is the number of records identical to the stored ones and
	// of deletions of devices that had no record.
	Unchanged int `json:"unchanged"`
	// Policy is "updated", "stale" or "unchanged" when the change carried
	// a policy, else omitted.
	Policy string `json:"policy,omitempty"`
}

// Add adds o's counts to r; r.Policy becomes o.Policy when o has one.
func (r *Result) Add(o Result) {
	r.Upserted += o.Upserted
	r.Deleted += o.Deleted
	r.Stale += o.Stale
	r.Unchanged += o.Unchanged
	if o.Policy != "" {
		r.Policy = o.Policy
	}
}

// Policy outcomes reported in [Result.Policy].
const (
	PolicyUpdated   = "updated"
	PolicyStale     = "stale"
	PolicyUnchanged = "unchanged"
)

// prepared is a validated change in its stored form.
type prepared struct {
	ups      []preparedDoc[RecordDoc]
	dels     []preparedDoc[Deletion]
	policy   *PolicyDoc
	polEnc   []byte
	compiled *device.Policy
	time     time.Time
}

type preparedDoc[T any] struct {
	key []byte
	doc T
	enc []byte
}

// Apply validates ch and, if it is valid, commits it to the file in one
// transaction together with the pull cursor (when cursor is not nil; ""
// clears it), then brings st in step. An invalid change fails with a
// [*ChangeError] and changes nothing.
//
// Changes converge whatever their order of arrival: for each device the
// state with the latest time wins (a deletion wins a tie with a record;
// two different records with the same time are ordered by their encoded
// form), a deletion is remembered for Options.TombstoneTTL, and a snapshot
// hides older records that are not in it.
func (db *DB) Apply(st *device.Store, ch Change, cursor *string) (Result, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return Result{}, ErrClosed
	}
	now := db.opts.Now()
	p, err := db.prepare(ch, cursor, now)
	if err != nil {
		return Result{}, err
	}
	var (
		res     Result
		upd     storeUpdate
		prune   = now.Sub(db.lastPrune) >= pruneEvery
		horizon = now.Add(-db.opts.TombstoneTTL)
	)
	err = db.bdb.Update(func(tx *bolt.Tx) error {
		res, upd = Result{}, storeUpdate{}
		a := applier{tx: tx, res: &res, upd: &upd}
		if err := a.apply(p, ch, cursor); err != nil {
			return err
		}
		if prune {
			return pruneTombstones(tx, horizon)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("apply device change to %s: %w", db.path, err)
	}
	if prune {
		db.lastPrune = now
	}
	if err := upd.apply(st); err != nil {
		return res, fmt.Errorf("apply device change to memory after commit (reload from %s): %w", db.path, err)
	}
	return res, nil
}

// prepare validates ch and encodes its parts as they will be stored.
func (db *DB) prepare(ch Change, cursor *string, now time.Time) (*prepared, error) {
	p := &prepared{time: normTime(ch.Time)}
	if p.time.IsZero() {
		p.time = normTime(now)
	}
	var limit time.Time
	if db.opts.MaxClockSkew > 0 {
		limit = now.Add(db.opts.MaxClockSkew)
	}
	checkTime := func(list string, i int, id, field string, t time.Time) error {
		if t.Year() < 1 || t.Year() > 9999 {
			return &ChangeError{List: list, Index: i, DeviceID: id, Field: field, Problem: "year outside 1..9999"}
		}
		if !limit.IsZero() && t.After(limit) {
			return &ChangeError{List: list, Index: i, DeviceID: id, Field: field,
				Problem: fmt.Sprintf("%s is more than %v in the future; check the clock of device management", t.Format(time.RFC3339), db.opts.MaxClockSkew)}
		}
		return nil
	}
	if err := checkTime("change", -1, "", "time", p.time); err != nil {
		return nil, err
	}
	if ch.More && cursor == nil {
		return nil, &ChangeError{List: "change", Index: -1, Field: "more", Problem: "only a pull page can continue"}
	}

	p.ups = make([]preparedDoc[RecordDoc], len(ch.Upsert))
	for i := range ch.Upsert {
		d := RecordDocOf(ch.Upsert[i])
		d.LastCheckIn = normTime(d.LastCheckIn)
		d.Updated = normTime(d.Updated)
		if d.Updated.IsZero() {
			d.Updated = p.time
		}
		if err := validateRecord(&d); err != nil {
			err.List, err.Index = "upsert", i
			return nil, err
		}
		if !d.LastCheckIn.IsZero() {
			if err := checkTime("upsert", i, d.DeviceID, "last_check_in", d.LastCheckIn); err != nil {
				return nil, err
			}
		}
		if err := checkTime("upsert", i, d.DeviceID, "updated", d.Updated); err != nil {
			return nil, err
		}
		enc, err := json.Marshal(&d)
		if err != nil {
			return nil, &ChangeError{List: "upsert", Index: i, DeviceID: d.DeviceID, Field: "device_id", Problem: "cannot encode", Err: err}
		}
		p.ups[i] = preparedDoc[RecordDoc]{key: []byte(device.Fold(d.DeviceID)), doc: d, enc: enc}
	}

	p.dels = make([]preparedDoc[Deletion], len(ch.Delete))
	for i, d := range ch.Delete {
		d.Deleted = normTime(d.Deleted)
		if d.Deleted.IsZero() {
			d.Deleted = p.time
		}
		if problem := checkID(d.DeviceID); problem != "" {
			return nil, &ChangeError{List: "delete", Index: i, DeviceID: d.DeviceID, Field: "device_id", Problem: problem}
		}
		if err := checkTime("delete", i, d.DeviceID, "deleted", d.Deleted); err != nil {
			return nil, err
		}
		enc, err := json.Marshal(&d)
		if err != nil {
			return nil, &ChangeError{List: "delete", Index: i, DeviceID: d.DeviceID, Field: "device_id", Problem: "cannot encode", Err: err}
		}
		p.dels[i] = preparedDoc[Deletion]{key: []byte(device.Fold(d.DeviceID)), doc: d, enc: enc}
	}

	if ch.Policy != nil {
		d := *ch.Policy
		d.Updated = normTime(d.Updated)
		if d.Updated.IsZero() {
			d.Updated = p.time
		}
		if err := checkTime("policy", -1, "", "updated", d.Updated); err != nil {
			return nil, err
		}
		enc, err := json.Marshal(&d)
		if err != nil {
			return nil, &ChangeError{List: "policy", Index: -1, Field: "revision", Problem: "cannot encode", Err: err}
		}
		// Compile what will be read back from the file, not the caller's
		// value, so that memory and a later Load agree byte for byte.
		var stored PolicyDoc
		if err := json.Unmarshal(enc, &stored); err != nil {
			return nil, &ChangeError{List: "policy", Index: -1, Field: "revision", Problem: "does not decode as it was encoded", Err: err}
		}
		pol, err := device.NewPolicy(stored.Config())
		if err != nil {
			return nil, policyChangeError(err)
		}
		p.policy, p.polEnc, p.compiled = &stored, enc, pol
	}
	return p, nil
}

// normTime drops the monotonic reading and the location, so that equal
// instants encode equally.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

func checkID(id string) string {
	switch {
	case strings.TrimSpace(id) == "":
		return "empty; every record needs the device's EAS DeviceId"
	case len(id) > MaxDeviceIDLen:
		return fmt.Sprintf("longer than %d bytes", MaxDeviceIDLen)
	case !utf8.ValidString(id):
		// JSON and case folding would both turn the bad bytes into
		// U+FFFD, so two different IDs could become one record.
		return "not valid UTF-8; an EAS DeviceId is ASCII letters and digits"
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return "contains a control character; an EAS DeviceId is ASCII letters and digits"
	}
	return ""
}

// validateRecord checks a record as the store will (device's own checks)
// plus the sizes this package bounds.
func validateRecord(d *RecordDoc) *ChangeError {
	bad := func(field, problem string) *ChangeError {
		return &ChangeError{DeviceID: d.DeviceID, Field: field, Problem: problem}
	}
	if problem := checkID(d.DeviceID); problem != "" {
		return bad("device_id", problem)
	}
	for _, f := range []struct{ name, v string }{
		{"user", d.User}, {"platform", d.Platform}, {"model", d.Model}, {"os_version", d.OSVersion},
	} {
		if len(f.v) > MaxFieldLen {
			return bad(f.name, fmt.Sprintf("longer than %d bytes", MaxFieldLen))
		}
	}
	if !d.Compromised.Valid() {
		return bad("compromised", `want "yes", "no" or omitted`)
	}
	if !d.Encrypted.Valid() {
		return bad("encrypted", `want "yes", "no" or omitted`)
	}
	if !d.Override.Valid() {
		return bad("override", "want default, whitelist, blacklist or quarantine")
	}
	return nil
}

// policyChangeError turns device.NewPolicy's joined errors into one
// ChangeError naming the first field in wire form.
func policyChangeError(err error) *ChangeError {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	ce := &ChangeError{List: "policy", Index: -1, Err: err}
	var msgs []string
	for _, e := range errs {
		var pe *device.PolicyError
		if !errors.As(e, &pe) {
			msgs = append(msgs, e.Error())
			continue
		}
		f := wireField(pe.Field)
		if ce.Field == "" {
			ce.Field = f
		}
		m := pe.Problem
		if pe.Value != "" {
			m = fmt.Sprintf("%q: %s", pe.Value, pe.Problem)
		}
		msgs = append(msgs, f+": "+m)
	}
	if ce.Field == "" {
		ce.Field = "(policy)"
	}
	ce.Problem = msgs[0]
	if i := strings.Index(ce.Problem, ": "); i >= 0 && ce.Problem[:i] == ce.Field {
		ce.Problem = ce.Problem[i+2:]
	}
	if len(msgs) > 1 {
		ce.Problem += fmt.Sprintf(" (and %d more: %s)", len(msgs)-1, strings.Join(msgs[1:], "; "))
	}
	return ce
}

// wireField spells a Go field path ("AllowedOS[2].Min") as the wire
// format does ("allowed_os[2].min").
func wireField(goPath string) string {
	var b strings.Builder
	r := []rune(goPath)
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsUpper(r[i-1]) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// storeUpdate is what a committed transaction changes in memory.
type storeUpdate struct {
	replace bool // recs is every effective record
	recs    []device.Record
	gone    []string // folded keys without a record now
	policy  *device.Policy
	touched map[string]bool
}

func (u *storeUpdate) apply(st *device.Store) error {
	if u.replace {
		if err := st.Replace(u.recs); err != nil {
			return err
		}
	} else {
		if len(u.recs) > 0 {
			if err := st.Upsert(u.recs...); err != nil {
				return err
			}
		}
		if len(u.gone) > 0 {
			st.Delete(u.gone...)
		}
	}
	// Records first: a policy set before the records it depends on would
	// see every device as unknown meanwhile.
	if u.policy != nil {
		st.SetPolicy(u.policy)
	}
	return nil
}

// applier applies one prepared change inside a write transaction.
type applier struct {
	tx      *bolt.Tx
	res     *Result
	upd     *storeUpdate
	records *bolt.Bucket
	tombs   *bolt.Bucket
	members *bolt.Bucket
	horizon time.Time
}

func (a *applier) apply(p *prepared, ch Change, cursor *string) error {
	a.records = a.tx.Bucket(bucketRecords)
	a.tombs = a.tx.Bucket(bucketTombstones)
	a.members = a.tx.Bucket(bucketMembers)
	a.upd.touched = map[string]bool{}
	if v := a.tx.Bucket(bucketSnapshot).Get(keyHorizon); v != nil {
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return fmt.Errorf("%w: snapshot time %q", ErrCorrupt, v)
		}
		a.horizon = t
	}
	for i := range p.ups {
		if err := a.upsert(&p.ups[i]); err != nil {
			return err
		}
	}
	for i := range p.dels {
		if err := a.delete(&p.dels[i]); err != nil {
			return err
		}
	}
	if err := a.snapshot(p, ch, cursor); err != nil {
		return err
	}
	if p.policy != nil {
		if err := a.setPolicy(p); err != nil {
			return err
		}
	}
	if ch.Transforms != nil {
		b := a.tx.Bucket(bucketPolicy)
		var err error
		if transformsRemoved(ch.Transforms) {
			err = b.Delete(keyTransforms)
		} else {
			err = b.Put(keyTransforms, bytes.Clone(ch.Transforms))
		}
		if err != nil {
			return err
		}
	}
	if cursor != nil {
		pull := a.tx.Bucket(bucketPull)
		var err error
		if *cursor == "" {
			err = pull.Delete(keyCursor)
		} else {
			err = pull.Put(keyCursor, []byte(*cursor))
		}
		if err != nil {
			return err
		}
	}
	return a.collect()
}

// upsert stores a record unless the file holds a newer state of its device.
func (a *applier) upsert(u *preparedDoc[RecordDoc]) error {
	if cur := a.records.Get(u.key); cur != nil {
		var c RecordDoc
		if err := decodeValue("records", u.key, cur, &c); err != nil {
			return err
		}
		switch order(u.doc.Updated, u.enc, c.Updated, cur) {
		case -1:
			a.res.Stale++
			return nil
		case 0:
			a.res.Unchanged++
			return nil
		}
	} else {
		t, err := getTombstone(a.tx, u.key)
		if err != nil {
			return err
		}
		// A deletion wins a tie: the device was deleted at that instant.
		if t != nil && !u.doc.Updated.After(t.Deleted) {
			a.res.Stale++
			return nil
		}
		// The latest snapshot did not list the device: it did not exist
		// then, so a record from before is out of date.
		if !a.horizon.IsZero() && !u.doc.Updated.After(a.horizon) && a.members.Get(u.key) == nil {
			a.res.Stale++
			return nil
		}
		if t != nil {
			if err := a.tombs.Delete(u.key); err != nil {
				return err
			}
		}
	}
	if err := a.records.Put(u.key, u.enc); err != nil {
		return err
	}
	a.res.Upserted++
	a.upd.touched[string(u.key)] = true
	return nil
}

// present is the value of a key in a set bucket: bbolt's Get cannot tell a
// nil value from a missing key.
var present = []byte{1}

// order compares two versions of a record: by time, then by encoding, so
// that every gateway picks the same one whatever the order of arrival.
func order(t1 time.Time, enc1 []byte, t2 time.Time, enc2 []byte) int {
	if c := t1.Compare(t2); c != 0 {
		return c
	}
	return bytes.Compare(enc1, enc2)
}

// delete removes a record unless it is newer than the deletion, and
// remembers the deletion.
func (a *applier) delete(d *preparedDoc[Deletion]) error {
	if cur := a.records.Get(d.key); cur != nil {
		var c RecordDoc
		if err := decodeValue("records", d.key, cur, &c); err != nil {
			return err
		}
		if c.Updated.After(d.doc.Deleted) {
			a.res.Stale++
			return nil
		}
		if err := a.records.Delete(d.key); err != nil {
			return err
		}
		a.res.Deleted++
		a.upd.touched[string(d.key)] = true
		return a.tombs.Put(d.key, d.enc)
	}
	a.res.Unchanged++
	t, err := getTombstone(a.tx, d.key)
	if err != nil {
		return err
	}
	if t != nil && !d.doc.Deleted.After(t.Deleted) {
		return nil
	}
	return a.tombs.Put(d.key, d.enc)
}

// snapshot handles Replace and the pull snapshot that may be open.
func (a *applier) snapshot(p *prepared, ch Change, cursor *string) error {
	pull := a.tx.Bucket(bucketPull)
	if !ch.Replace && (cursor == nil || pull.Get(keySnapshotTime) == nil) {
		return nil
	}
	seen := a.tx.Bucket(bucketPullSeen)
	if ch.Replace {
		// A new snapshot supersedes one left open.
		if err := a.tx.DeleteBucket(bucketPullSeen); err != nil {
			return err
		}
		var err error
		if seen, err = a.tx.CreateBucket(bucketPullSeen); err != nil {
			return err
		}
		if err := pull.Put(keySnapshotTime, []byte(p.time.Format(time.RFC3339Nano))); err != nil {
			return err
		}
	}
	for i := range p.ups {
		if err := seen.Put(p.ups[i].key, present); err != nil {
			return err
		}
	}
	if ch.More {
		return nil
	}
	v := pull.Get(keySnapshotTime)
	at, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return fmt.Errorf("%w: open snapshot time %q", ErrCorrupt, v)
	}
	if err := a.finishSnapshot(seen, at); err != nil {
		return err
	}
	if err := pull.Delete(keySnapshotTime); err != nil {
		return err
	}
	if err := a.tx.DeleteBucket(bucketPullSeen); err != nil {
		return err
	}
	_, err = a.tx.CreateBucket(bucketPullSeen)
	return err
}

// finishSnapshot deletes the records the snapshot taken at "at" did not
// list, unless they changed after it, and keeps its list when it is the
// latest snapshot. No tombstones: the list does their work, and deletions
// of their own, older or newer, then meet the same state in any order.
func (a *applier) finishSnapshot(seen *bolt.Bucket, at time.Time) error {
	a.upd.replace = true
	var gone [][]byte
	err := a.records.ForEach(func(k, v []byte) error {
		if seen.Get(k) != nil {
			return nil
		}
		var c RecordDoc
		if err := decodeValue("records", k, v, &c); err != nil {
			return err
		}
		if !c.Updated.After(at) {
			gone = append(gone, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := a.records.Delete(k); err != nil {
			return err
		}
		a.res.Deleted++
	}
	if !a.horizon.IsZero() && at.Before(a.horizon) {
		return nil // an older snapshot arriving late: the newer list stays
	}
	if err := a.tx.DeleteBucket(bucketMembers); err != nil {
		return err
	}
	members, err := a.tx.CreateBucket(bucketMembers)
	if err != nil {
		return err
	}
	a.members = members
	if err := seen.ForEach(func(k, _ []byte) error { return members.Put(k, present) }); err != nil {
		return err
	}
	a.horizon = at
	return a.tx.Bucket(bucketSnapshot).Put(keyHorizon, []byte(at.Format(time.RFC3339Nano)))
}

func (a *applier) setPolicy(p *prepared) error {
	b := a.tx.Bucket(bucketPolicy)
	if cur := b.Get(keyPolicy); cur != nil {
		var c PolicyDoc
		if err := decodeValue("policy", keyPolicy, cur, &c); err != nil {
			return err
		}
		switch order(p.policy.Updated, p.polEnc, c.Updated, cur) {
		case -1:
			a.res.Policy = PolicyStale
			return nil
		case 0:
			a.res.Policy = PolicyUnchanged
			return nil
		}
	}
	if err := b.Put(keyPolicy, p.polEnc); err != nil {
		return err
	}
	a.res.Policy = PolicyUpdated
	a.upd.policy = p.compiled
	return nil
}

// collect reads back the effective records the store needs: all of them
// after a snapshot, else those of the devices touched.
func (a *applier) collect() error {
	if a.upd.replace {
		s, err := readAll(a.tx)
		if err != nil {
			return err
		}
		a.upd.recs = effectiveAll(s)
		return nil
	}
	for k := range a.upd.touched {
		rec, ok, err := effectiveOf(a.tx, []byte(k))
		if err != nil {
			return err
		}
		if ok {
			a.upd.recs = append(a.upd.recs, rec)
		} else {
			a.upd.gone = append(a.upd.gone, k)
		}
	}
	return nil
}

// effectiveOf reads one device's effective record.
func effectiveOf(tx *bolt.Tx, k []byte) (device.Record, bool, error) {
	r, err := getRecord(tx, k)
	if err != nil {
		return device.Record{}, false, err
	}
	o, err := getOverride(tx, k)
	if err != nil {
		return device.Record{}, false, err
	}
	if r == nil && o == nil {
		return device.Record{}, false, nil
	}
	return effective(r, o), true, nil
}

// effectiveAll is every effective record of a decoded file.
func effectiveAll(s *state) []device.Record {
	recs := make([]device.Record, 0, len(s.records)+len(s.overrides))
	for k, r := range s.records {
		recs = append(recs, effective(r, s.overrides[k]))
	}
	for k, o := range s.overrides {
		if _, ok := s.records[k]; !ok {
			recs = append(recs, effective(nil, o))
		}
	}
	return recs
}

// SetOverride records the administrator's override of a device, kept
// apart from device management's records so that no push or pull undoes
// it: the device's effective Override is the administrator's while one is
// set. device.OverrideDefault removes the administrator's override, and
// the device returns to what device management said. Overriding a device
// without a record creates a bare record (DeviceID and Override only) so
// that the decision applies.
func (db *DB) SetOverride(st *device.Store, deviceID string, o device.Override) error {
	if problem := checkID(deviceID); problem != "" {
		return &ChangeError{List: "override", Index: -1, DeviceID: deviceID, Field: "device_id", Problem: problem}
	}
	if !o.Valid() {
		return &ChangeError{List: "override", Index: -1, DeviceID: deviceID, Field: "override", Problem: "want default, whitelist, blacklist or quarantine"}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	now := normTime(db.opts.Now())
	k := []byte(device.Fold(deviceID))
	var (
		rec device.Record
		ok  bool
	)
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOverrides)
		if o == device.OverrideDefault {
			if err := b.Delete(k); err != nil {
				return err
			}
		} else {
			id := deviceID
			if r, err := getRecord(tx, k); err != nil {
				return err
			} else if r != nil {
				id = r.DeviceID
			}
			enc, err := json.Marshal(&overrideDoc{DeviceID: id, Override: o, Set: now})
			if err != nil {
				return err
			}
			if err := b.Put(k, enc); err != nil {
				return err
			}
		}
		var err error
		rec, ok, err = effectiveOf(tx, k)
		return err
	})
	if err != nil {
		return fmt.Errorf("set override of device %q in %s: %w", deviceID, db.path, err)
	}
	if ok {
		return st.Upsert(rec)
	}
	st.Delete(string(k))
	return nil
}

// Overrides returns the administrator's overrides by device ID.
func (db *DB) Overrides() (map[string]device.Override, error) {
	out := map[string]device.Override{}
	err := db.bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOverrides).ForEach(func(k, v []byte) error {
			var o overrideDoc
			if err := decodeValue("overrides", k, v, &o); err != nil {
				return err
			}
			out[o.DeviceID] = o.Override
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list overrides in %s: %w", db.path, err)
	}
	return out, nil
}
