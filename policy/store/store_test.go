package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// cmpPrefix compares netip values, which have unexported fields.
var cmpPrefix = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func mustOpen(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir, WithLockTimeout(time.Second))
	if err != nil {
		tb.Fatalf("Open(%s): %v", dir, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustPrefix(tb testing.TB, s string) netip.Prefix {
	tb.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func mustPrefixes(tb testing.TB, ss ...string) []netip.Prefix {
	tb.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, mustPrefix(tb, s))
	}
	return out
}

func mustRevision(tb testing.TB, s *Store) uint64 {
	tb.Helper()
	rev, err := s.Revision()
	if err != nil {
		tb.Fatalf("Revision: %v", err)
	}
	return rev
}

func mustSnapshot(tb testing.TB, s *Store) State {
	tb.Helper()
	st, err := s.Snapshot()
	if err != nil {
		tb.Fatalf("Snapshot: %v", err)
	}
	return st
}

// wantInputError checks that err is an *InputError wrapping sentinel whose
// message contains every one of parts.
func wantInputError(tb testing.TB, err, sentinel error, parts ...string) {
	tb.Helper()
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, sentinel) {
		tb.Fatalf("error = %v, want an *InputError wrapping %v", err, sentinel)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			tb.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestOpenCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "enforcer")
	s := mustOpen(t, dir)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
	if rev := mustRevision(t, s); rev != 0 {
		t.Errorf("fresh store revision = %d, want 0", rev)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+".new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestReopenPersists(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.AddAllow("imap", []Entry{{Prefix: mustPrefix(t, "192.0.2.0/24"), Comment: "office", AddedAt: at, AddedBy: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDeny([]Entry{{Prefix: mustPrefix(t, "2001:db8::/32"), Comment: "abuse", AddedAt: at, AddedBy: "bob"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCountries("webmail", []string{"DE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveCountries("webmail", []string{"US"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServiceIDs(map[string]uint8{"imap": 1, "webmail": 2}); err != nil {
		t.Fatal(err)
	}
	before := mustSnapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	after := mustSnapshot(t, mustOpen(t, dir))
	want := State{
		Revision:   5,
		Allow:      map[string][]Entry{"imap": {{Prefix: mustPrefix(t, "192.0.2.0/24"), Comment: "office", AddedAt: at, AddedBy: "alice"}}},
		Deny:       []Entry{{Prefix: mustPrefix(t, "2001:db8::/32"), Comment: "abuse", AddedAt: at, AddedBy: "bob"}},
		Countries:  map[string]CountryOverride{"webmail": {Added: []string{"DE"}, Removed: []string{"US"}}},
		ServiceIDs: map[string]uint8{"imap": 1, "webmail": 2},
	}
	if diff := cmp.Diff(want, after, cmpPrefix); diff != "" {
		t.Errorf("state after reopen (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, after, cmpPrefix); diff != "" {
		t.Errorf("state changed across reopen (-before +after):\n%s", diff)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	first := mustOpen(t, dir)

	start := time.Now()
	_, err := Open(dir, WithLockTimeout(200*time.Millisecond))
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want a *LockedError", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("second Open gave up after %v, before its 200ms lock timeout", waited)
	}
	// flock locks belong to open files, so our own first Open is the
	// holder /proc/locks names.
	if le.PID != os.Getpid() {
		t.Errorf("holder pid = %d, want %d (this process)", le.PID, os.Getpid())
	}
	wantMsg := fmt.Sprintf("state directory %s is in use by another enforcer (pid %d", dir, os.Getpid())
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("error %q does not contain %q", err, wantMsg)
	}

	// Released by Close, a waiting Open gets the directory.
	done := make(chan error, 1)
	go func() {
		s, err := Open(dir, WithLockTimeout(10*time.Second))
		if err == nil {
			err = s.Close()
		}
		done <- err
	}()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Open after the holder closed: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantIs  error
		want    []string
	}{
		{
			name: "newer schema",
			prepare: func(t *testing.T, dir string) {
				setMeta(t, dir, keyVersion, SchemaVersion+1)
			},
			wantIs: ErrSchema,
			want:   []string{"schema version 2", "up to 1", "newer enforcer"},
		},
		{
			name: "zero schema version",
			prepare: func(t *testing.T, dir string) {
				setMeta(t, dir, keyVersion, 0)
			},
			wantIs: ErrCorrupt,
			want:   []string{"no valid schema version", "move it away"},
		},
		{
			name: "not a bbolt file",
			prepare: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("not bolt ", 2000)), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantIs: ErrCorrupt,
			want:   []string{FileName, "move it away"},
		},
		{
			name: "another program's bbolt file",
			prepare: func(t *testing.T, dir string) {
				db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
					t.Fatal(err)
				}
				db.Close()
			},
			wantIs: ErrCorrupt,
			want:   []string{"not an enforcer state file"},
		},
		{
			name: "directory writable by others",
			prepare: func(t *testing.T, dir string) {
				if err := os.Chmod(dir, 0o777); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"writable by group or others", "chmod 0700 "},
		},
		{
			name: "file writable by others",
			prepare: func(t *testing.T, dir string) {
				mustOpen(t, dir).Close()
				if err := os.Chmod(filepath.Join(dir, FileName), 0o666); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"writable by group or others", "chmod 0600"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.prepare(t, dir)
			s, err := Open(dir, WithLockTimeout(time.Second))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSchemaErrorFields(t *testing.T) {
	dir := t.TempDir()
	setMeta(t, dir, keyVersion, 7)
	_, err := Open(dir)
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("Open: %v, want a *SchemaError", err)
	}
	if se.Found != 7 || se.Supported != SchemaVersion || se.Path != filepath.Join(dir, FileName) {
		t.Errorf("SchemaError = %+v", se)
	}
}

// setMeta creates a store in dir and overwrites one meta key behind the
// API's back, as a newer or broken enforcer might have.
func setMeta(t *testing.T, dir string, key []byte, v uint64) {
	t.Helper()
	s := mustOpen(t, dir)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(key, binary.BigEndian.AppendUint64(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRemovesLeftoverTemporary(t *testing.T) {
	dir := t.TempDir()
	// A crash while creating the store leaves state.db.new and no state.db.
	tmp := filepath.Join(dir, FileName+".new")
	if err := os.WriteFile(tmp, []byte("half a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover %s still there: %v", tmp, err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	p := mustPrefixes(t, "192.0.2.0/24")
	calls := map[string]func() error{
		"Revision":     func() error { _, err := s.Revision(); return err },
		"AddAllow":     func() error { _, err := s.AddAllow("imap", []Entry{{Prefix: p[0]}}); return err },
		"RemoveDeny":   func() error { _, err := s.RemoveDeny(p); return err },
		"ListAllow":    func() error { _, err := s.ListAllow("imap"); return err },
		"Snapshot":     func() error { _, err := s.Snapshot(); return err },
		"ServiceIDs":   func() error { _, err := s.ServiceIDs(); return err },
		"AddCountries": func() error { _, err := s.AddCountries("imap", []string{"DE"}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
