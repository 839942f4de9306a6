package devicesync

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mailgate/enforcer/l7/device"
)

const (
	// FileName is the database's name in the state directory.
	FileName = "devices.db"
	// SchemaVersion is the schema this build writes; Open refuses a file
	// with a higher one rather than misread it.
	SchemaVersion = 1
	// DefaultLockTimeout is how long Open waits for another process to
	// close the file: long enough to cover a daemon restart.
	DefaultLockTimeout = 3 * time.Second
	// DefaultTombstoneTTL is how long a deletion is remembered.
	DefaultTombstoneTTL = 30 * 24 * time.Hour
	// DefaultMaxClockSkew is how far in the future an updated or deleted
	// time may lie.
	DefaultMaxClockSkew = time.Hour
)

// pruneEvery bounds how often Apply scans the tombstones for expired ones.
const pruneEvery = time.Hour

var (
	bucketMeta       = []byte("meta")
	bucketRecords    = []byte("records")
	bucketTombstones = []byte("tombstones")
	bucketOverrides  = []byte("overrides")
	bucketPolicy     = []byte("policy")
	bucketPull       = []byte("pull")
	bucketPullSeen   = []byte("pull_seen")
	bucketSnapshot   = []byte("snapshot")
	bucketMembers    = []byte("snapshot_members")
	allBuckets       = [][]byte{bucketMeta, bucketRecords, bucketTombstones, bucketOverrides, bucketPolicy, bucketPull, bucketPullSeen, bucketSnapshot, bucketMembers}

	keySchema       = []byte("schema")
	keyPolicy       = []byte("current")
	keyCursor       = []byte("cursor")
	keySnapshotTime = []byte("snapshot_time") // in bucketPull: a pull snapshot is open
	keyHorizon      = []byte("time")          // in bucketSnapshot: the latest snapshot's time
)

// Options configure [Open]. The zero value is the default.
type Options struct {
	// LockTimeout is how long Open waits while another process holds the
	// file; then it fails with ErrLocked. Default (0) DefaultLockTimeout.
	LockTimeout time.Duration
	// TombstoneTTL is how long a deletion is remembered so that an older
	// upsert arriving later does not bring the device back. Default (0)
	// DefaultTombstoneTTL, 30 days; changes older than that may no longer
	// converge.
	TombstoneTTL time.Duration
	// MaxClockSkew refuses records and deletions whose time lies further
	// in the future than this: such a time would make the record immune
	// to every change until then. Default (0) DefaultMaxClockSkew;
	// negative turns the check off.
	MaxClockSkew time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// noSync skips fsync, for tests that open thousands of files and do
	// not test durability.
	noSync bool
}

// DB is the persistent device state: records as device management sent
// them, deletions (tombstones), administrator overrides, the policy and
// the pull cursor, in one bbolt file. Its methods are safe for concurrent
// use. A DB keeps an in-memory [device.Store] in step with the file when
// every change to that store goes through the DB.
type DB struct {
	path string
	bdb  *bolt.DB
	opts Options

	// mu serialises writers across the bbolt commit and the store update
	// that follows it, so the store sees changes in commit order.
	mu        sync.Mutex
	lastPrune time.Time
	closed    bool
	closeErr  error
}

// Open opens the database at path, creating it (mode 0600) if missing.
// While another process has it open, Open waits up to
// Options.LockTimeout and then fails with an error wrapping ErrLocked.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = DefaultTombstoneTTL
	}
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = DefaultMaxClockSkew
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.noSync})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w (waited %v; is another enforcer running?)", path, ErrLocked, opts.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("open %s: %w: %w; move it away to start over (the next full sync refills it, admin overrides are lost)", path, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{path: path, bdb: bdb, opts: opts}
	if err := bdb.Update(db.initSchema); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func (db *DB) initSchema(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keySchema); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("%w: schema version %q", ErrCorrupt, v)
		}
		if n > SchemaVersion {
			return fmt.Errorf("%w: file has schema %d, this build reads up to %d; run the newer enforcer", ErrSchema, n, SchemaVersion)
		}
	} else if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return err
	}
	db.lastPrune = db.opts.Now()
	return pruneTombstones(tx, db.lastPrune.Add(-db.opts.TombstoneTTL))
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// Close closes the file. Later calls return the first call's result.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if !db.closed {
		db.closed = true
		db.closeErr = db.bdb.Close()
	}
	return db.closeErr
}

// Check runs bbolt's consistency check over the whole file and decodes
// every value.
func (db *DB) Check() error {
	return db.bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err)
		}
		if _, err := readAll(tx); err != nil {
			return err
		}
		return nil
	})
}

// Load fills st from the file: the effective records (device
// management's, with administrator overrides applied) replace the store's,
// then the stored policy, if one was ever stored, is compiled and set.
// Without a stored policy st keeps none and fails closed (see
// [device.NoPolicy]).
func (db *DB) Load(st *device.Store) error {
	var s *state
	err := db.bdb.View(func(tx *bolt.Tx) error {
		var err error
		s, err = readAll(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", db.path, err)
	}
	recs := effectiveAll(s)
	if err := st.Replace(recs); err != nil {
		return fmt.Errorf("load %s: %w", db.path, err)
	}
	if s.policy == nil {
		st.SetPolicy(nil)
		return nil
	}
	p, err := device.NewPolicy(s.policy.Config())
	if err != nil {
		return fmt.Errorf("load %s: stored policy: %w", db.path, err)
	}
	st.SetPolicy(p)
	return nil
}

// Cursor returns the pull cursor committed last, "" for none.
func (db *DB) Cursor() (string, error) {
	var c string
	err := db.bdb.View(func(tx *bolt.Tx) error {
		c = string(tx.Bucket(bucketPull).Get(keyCursor))
		return nil
	})
	return c, err
}

// Policy returns the stored policy document, or nil if none was ever
// stored.
func (db *DB) Policy() (*PolicyDoc, error) {
	var p *PolicyDoc
	err := db.bdb.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPolicy).Get(keyPolicy)
		if v == nil {
			return nil
		}
		p = new(PolicyDoc)
		return decodeValue("policy", keyPolicy, v, p)
	})
	return p, err
}

// DeviceView is what the database holds about one device.
type DeviceView struct {
	// Record is the record as device management sent it; nil if none.
	Record *RecordDoc `json:"record"`
	// AdminOverride is the administrator's override; omitted when none.
	AdminOverride device.Override `json:"admin_override,omitempty"`
	// Deleted is when device management deleted the device, if it did and
	// sent no record since.
	Deleted time.Time `json:"deleted,omitzero"`
	// Effective is the record the gateway decides with; nil if none.
	Effective *RecordDoc `json:"effective"`
}

// Device returns what the database holds about a device ID, compared
// without regard to case; ok is false when it holds nothing.
func (db *DB) Device(deviceID string) (v DeviceView, ok bool, err error) {
	k := []byte(device.Fold(deviceID))
	err = db.bdb.View(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, k)
		if err != nil {
			return err
		}
		o, err := getOverride(tx, k)
		if err != nil {
			return err
		}
		t, err := getTombstone(tx, k)
		if err != nil {
			return err
		}
		v.Record = r
		if o != nil {
			v.AdminOverride = o.Override
		}
		if t != nil {
			v.Deleted = t.Deleted
		}
		if r != nil || o != nil {
			e := RecordDocOf(effective(r, o))
			v.Effective = &e
		}
		ok = r != nil || o != nil || t != nil
		return nil
	})
	return v, ok, err
}

// overrideDoc is an administrator override on disk.
type overrideDoc struct {
	DeviceID string          `json:"device_id"`
	Override device.Override `json:"override"`
	Set      time.Time       `json:"set"`
}

// effective is the record the gateway decides with: device management's
// with the administrator's override, or a bare record carrying the
// override alone.
func effective(r *RecordDoc, o *overrideDoc) device.Record {
	var rec device.Record
	if r != nil {
		rec = r.Record()
	} else {
		rec.DeviceID = o.DeviceID
	}
	if o != nil {
		rec.Override = o.Override
	}
	return rec
}

// state is the whole file decoded.
type state struct {
	records    map[string]*RecordDoc
	tombstones map[string]*Deletion
	overrides  map[string]*overrideDoc
	policy     *PolicyDoc
	cursor     string
}

func readAll(tx *bolt.Tx) (*state, error) {
	s := &state{
		records:    map[string]*RecordDoc{},
		tombstones: map[string]*Deletion{},
		overrides:  map[string]*overrideDoc{},
		cursor:     string(tx.Bucket(bucketPull).Get(keyCursor)),
	}
	if err := readRecords(tx, s.records); err != nil {
		return nil, err
	}
	err := tx.Bucket(bucketTombstones).ForEach(func(k, v []byte) error {
		d := new(Deletion)
		if err := decodeValue("tombstones", k, v, d); err != nil {
			return err
		}
		s.tombstones[string(k)] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Bucket(bucketOverrides).ForEach(func(k, v []byte) error {
		o := new(overrideDoc)
		if err := decodeValue("overrides", k, v, o); err != nil {
			return err
		}
		s.overrides[string(k)] = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v := tx.Bucket(bucketPolicy).Get(keyPolicy); v != nil {
		s.policy = new(PolicyDoc)
		if err := decodeValue("policy", keyPolicy, v, s.policy); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readRecords decodes the records bucket into m, on every CPU: JSON
// decoding is most of the cost of a start-up. The values point into
// bbolt's memory map, valid until the transaction ends, which is after
// the workers are done.
func readRecords(tx *bolt.Tx, m map[string]*RecordDoc) error {
	var keys, vals [][]byte
	err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
		keys, vals = append(keys, k), append(vals, v)
		return nil
	})
	if err != nil {
		return err
	}
	docs := make([]RecordDoc, len(keys))
	workers := min(runtime.GOMAXPROCS(0), 1+len(keys)/1024)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				if err := decodeValue("records", keys[i], vals[i], &docs[i]); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i := range docs {
		m[string(keys[i])] = &docs[i]
	}
	return nil
}

func decodeValue(bucket string, k, v []byte, dst any) error {
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%w: %s/%q: %w", ErrCorrupt, bucket, k, err)
	}
	return nil
}

func getRecord(tx *bolt.Tx, k []byte) (*RecordDoc, error) {
	v := tx.Bucket(bucketRecords).Get(k)
	if v == nil {
		return nil, nil
	}
	r := new(RecordDoc)
	return r, decodeValue("records", k, v, r)
}

func getTombstone(tx *bolt.Tx, k []byte) (*Deletion, error) {
	v := tx.Bucket(bucketTombstones).Get(k)
	if v == nil {
		return nil, nil
	}
	d := new(Deletion)
	return d, decodeValue("tombstones", k, v, d)
}

func getOverride(tx *bolt.Tx, k []byte) (*overrideDoc, error) {
	v := tx.Bucket(bucketOverrides).Get(k)
	if v == nil {
		return nil, nil
	}
	o := new(overrideDoc)
	return o, decodeValue("overrides", k, v, o)
}

// pruneTombstones forgets deletions older than horizon.
func pruneTombstones(tx *bolt.Tx, horizon time.Time) error {
	b := tx.Bucket(bucketTombstones)
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var d Deletion
		if err := decodeValue("tombstones", k, v, &d); err != nil {
			return err
		}
		if d.Deleted.Before(horizon) {
			expired = append(expired, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
