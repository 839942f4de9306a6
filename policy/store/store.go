// Package store keeps enforcer's runtime state: the allow and deny entries
// and the country changes operators make with the CLI, and the datapath's
// service ids (kept here; policy/compose assigns them). It lives in one bbolt file, <state dir>/state.db, and is
// applied on top of the config file (see State.Apply), which the store
// never touches.
//
// Every mutating call is one bbolt transaction, fsynced before it returns:
// when the CLI reports success the change is on disk, and a crash at any
// moment (kill -9, power loss) leaves either the whole change or none of
// it. Every call that changes something bumps a revision number by one,
// which the daemon compares to know whether the datapath needs new tables;
// a call that changes nothing (re-adding a listed prefix, say) leaves it.
//
// # Schema (version 1)
//
//	meta/version          uint64 big-endian, SchemaVersion
//	meta/revision         uint64 big-endian, bumped by every change
//	allow/<service>/<key> entry record, JSON (see below)
//	deny/<key>            entry record, JSON
//	countries/<service>/<CC>  "+" added to the config's list, "-" removed from it
//	service_ids/<service> one byte, the datapath's service id
//
// A prefix key is the address family (4 or 6), the address bytes (4 or 16)
// and the prefix length: one byte each, so keys sort by family, address,
// then length. An entry record is {"comment","added_at","added_by"} and,
// for an entry with an expiry, "expires_at" (RFC 3339, UTC): enforcer
// before 2026-12 ignores it and keeps such an entry for good.
// Per-service buckets are deleted when they become empty.
//
// It must not know the config file's syntax or the datapath: the daemon
// applies the state on top of the file's policy.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sys/unix"
)

const (
	// FileName is the state file inside the state directory.
	FileName = "state.db"
	// SchemaVersion is the schema this build writes. Open refuses a file
	// with a higher version rather than misread it.
	SchemaVersion = 1
	// DefaultLockTimeout is how long Open waits for another process to
	// release the state directory: long enough to cover a daemon restart.
	DefaultLockTimeout = 3 * time.Second
)

var (
	bucketMeta       = []byte("meta")
	bucketAllow      = []byte("allow")
	bucketDeny       = []byte("deny")
	bucketCountries  = []byte("countries")
	bucketServiceIDs = []byte("service_ids")
	topBuckets       = [][]byte{bucketMeta, bucketAllow, bucketDeny, bucketCountries, bucketServiceIDs}

	keyVersion  = []byte("version")
	keyRevision = []byte("revision")
)

// Store is an open state directory. Its methods are safe for concurrent
// use; bbolt serialises the writers.
type Store struct {
	dir  string
	path string
	db   *bolt.DB
	lock *os.File // the flocked state directory

	closeOnce sync.Once
	closeErr  error
}

// Option tunes Open.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
}

// WithLockTimeout sets how long Open waits for the state directory's lock;
// the default is DefaultLockTimeout.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// Open opens the store in dir, creating the directory (mode 0700) and
// state.db (mode 0600) if they do not exist. Only one process can have a
// state directory open: while another holds it, Open waits up to the lock
// timeout and then fails with a *LockedError naming the holder.
func Open(dir string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	deadline := time.Now().Add(o.lockTimeout)
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir, deadline)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	s, err := open(dir, path, lock, deadline)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

func open(dir, path string, lock *os.File, deadline time.Time) (*Store, error) {
	if err := createIfMissing(dir, path); err != nil {
		return nil, err
	}
	if err := checkFileMode(path); err != nil {
		return nil, err
	}
	// We hold the directory lock, so bbolt's own flock on the file is
	// normally free at once; it is busy only if some other tool (the
	// bbolt CLI, say) has the file open.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: max(time.Until(deadline), 100*time.Millisecond)})
	if errors.Is(err, berrors.ErrTimeout) {
		pid, cmd := lockHolder(path)
		return nil, &LockedError{Dir: filepath.Dir(path), PID: pid, Command: cmd}
	}
	if err != nil {
		return nil, corrupt(path, err)
	}
	if err := checkSchema(db, path); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{dir: dir, path: path, db: db, lock: lock}, nil
}

// corrupt turns bbolt's complaints about a file into an error an operator
// can act on.
func corrupt(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %s: %w; move it away to start over from the config file alone (the CLI's changes in it are lost)", ErrCorrupt, path, err)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// prepareDir creates dir with mode 0700 and refuses one that others could
// write to: whoever can replace state.db can rewrite the allowlists.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state directory %s is writable by group or others (mode %04o); run chmod 0700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

func checkFileMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state file %s is writable by group or others (mode %04o); run chmod 0600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}

// lockDir takes an exclusive flock on the state directory, polling until
// deadline. The kernel drops the lock when its holder exits, however it
// exits, so a crashed daemon never leaves the directory locked.
func lockDir(dir string, deadline time.Time) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open state directory: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
		}
		if !time.Now().Before(deadline) {
			f.Close()
			pid, cmd := lockHolder(dir)
			return nil, &LockedError{Dir: dir, PID: pid, Command: cmd}
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)+time.Millisecond))
	}
}

// createIfMissing builds a fresh state file aside and renames it into place,
// so that a crash during creation leaves either no state.db or a complete
// one, never a half-initialised file. The caller holds the directory lock,
// which makes the fixed temporary name safe.
func createIfMissing(dir, path string) error {
	tmp := path + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state file: %w", err)
	}
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	err = db.Update(initSchema)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("initialise %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("create state file: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}

func initSchema(tx *bolt.Tx) error {
	for _, name := range topBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyVersion, u64(SchemaVersion)); err != nil {
		return err
	}
	return meta.Put(keyRevision, u64(0))
}

// checkSchema refuses files this build cannot read. A future schema
// version 2 migrates version 1 files here, in one transaction.
func checkSchema(db *bolt.DB, path string) error {
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: %s has no meta bucket: it is not an enforcer state file; move it away", ErrCorrupt, path)
		}
		v, ok := getU64(meta.Get(keyVersion))
		if !ok || v == 0 {
			return fmt.Errorf("%w: %s has no valid schema version; move it away to start over from the config file alone", ErrCorrupt, path)
		}
		if v > SchemaVersion {
			return &SchemaError{Path: path, Found: v, Supported: SchemaVersion}
		}
		if _, ok := getU64(meta.Get(keyRevision)); !ok {
			return fmt.Errorf("%w: %s has no valid revision; move it away to start over from the config file alone", ErrCorrupt, path)
		}
		for _, name := range topBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: %s lacks the %s bucket; move it away to start over from the config file alone", ErrCorrupt, path, name)
			}
		}
		return nil
	})
}

// Close closes the file and releases the state directory. It is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.db.Close()
		if err := s.lock.Close(); s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Path is the state file.
func (s *Store) Path() string { return s.path }

// Revision is the number of changes ever made to the store.
func (s *Store) Revision() (uint64, error) {
	var rev uint64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		rev, err = revision(tx)
		return err
	})
	return rev, err
}

// Check runs bbolt's consistency check over the whole file: every page
// reachable once, the freelist sound, keys in order.
func (s *Store) Check() error {
	return s.view(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, errors.Join(errs...))
		}
		return nil
	})
}

// errUnchanged rolls back a write transaction that changed nothing, which
// saves a pointless commit and fsync and leaves the revision alone.
var errUnchanged = errors.New("unchanged")

// update runs fn in one write transaction and bumps the revision if fn
// reports a change. bbolt fsyncs the commit before Update returns.
func (s *Store) update(fn func(tx *bolt.Tx) (changed bool, err error)) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		changed, err := fn(tx)
		if err != nil {
			return err
		}
		if !changed {
			return errUnchanged
		}
		rev, err := revision(tx)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyRevision, u64(rev+1))
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return s.wrap(err)
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.wrap(s.db.View(fn))
}

func (s *Store) wrap(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func revision(tx *bolt.Tx) (uint64, error) {
	rev, ok := getU64(tx.Bucket(bucketMeta).Get(keyRevision))
	if !ok {
		return 0, fmt.Errorf("%w: meta/revision is not 8 bytes", ErrCorrupt)
	}
	return rev, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
