package attach

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLoadOrCreateMaster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attach.key")
	m1, err := LoadOrCreateMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != MasterSize {
		t.Fatalf("created mode %v size %d, want 0600 and %d", st.Mode().Perm(), st.Size(), MasterSize)
	}
	m2, err := LoadOrCreateMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Key("d", "u") != m2.Key("d", "u") {
		t.Fatal("reloaded master derives other keys")
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only the key", len(ents))
	}
	other, err := LoadOrCreateMaster(filepath.Join(t.TempDir(), "attach.key"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Key("d", "u") == m1.Key("d", "u") {
		t.Fatal("two new masters derive the same key")
	}
}

func TestLoadMasterRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"group readable", write("g", make([]byte, 32), 0o640), "chmod 600"},
		{"world readable", write("w", make([]byte, 32), 0o604), "chmod 600"},
		{"short", write("s", make([]byte, 31), 0o600), "31 bytes, want 32"},
		{"empty", write("e", nil, 0o600), "0 bytes, want 32"},
		{"long", write("l", make([]byte, 64), 0o600), "64 bytes"},
		{"directory", dir, "not a regular file"},
		{"symlink to a good key", symlink(t, write("good", make([]byte, 32), 0o600), filepath.Join(dir, "link")), "symbolic link"},
		{"dangling symlink", symlink(t, filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")), "symbolic link"},
		{"fifo", fifo(t, filepath.Join(dir, "fifo")), "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadOrCreateMaster(tc.path)
			if !errors.Is(err, ErrMasterFile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrMasterFile mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := LoadOrCreateMaster(filepath.Join(dir, "missing", "attach.key")); err == nil {
		t.Fatal("created a key in a missing directory")
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("a dangling symlink's target was created")
	}
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func fifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeyDerivation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attach.key")
	// A fixed master pins the derivation: if this vector changes, every
	// device's encrypted attachments become unreadable.
	if err := os.WriteFile(path, bytes.Repeat([]byte{0x42}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadOrCreateMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	k := m.Key("ApplF17XYZ", "CONTOSO\\Jane")
	// Computed independently (Python hmac/hashlib, RFC 5869 by hand).
	if got, want := fmt.Sprintf("%x", k[:]), "a5d873a0c45b16d529d04759b5380d1749d66eb0074579d88e1466b004ecd347"; got != want {
		t.Fatalf("Key = %s, want %s", got, want)
	}
	same := []struct{ d, u string }{
		{"applf17xyz", "contoso\\jane"},
		{" APPLF17XYZ ", "CONTOSO\\JANE"},
	}
	for _, s := range same {
		if m.Key(s.d, s.u) != k {
			t.Errorf("Key(%q, %q) differs from Key(ApplF17XYZ, CONTOSO\\Jane)", s.d, s.u)
		}
	}
	differ := []struct{ d, u string }{
		{"ApplF17XYZ", "jane@contoso.com"},
		{"ApplF17XYZ2", "CONTOSO\\Jane"},
		{"ApplF17XY", "ZCONTOSO\\Jane"},
		{"", ""},
	}
	for _, s := range differ {
		if m.Key(s.d, s.u) == k {
			t.Errorf("Key(%q, %q) equals another pair's key", s.d, s.u)
		}
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k, _ := mustKeys(t)
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	l.Info("x", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %#v %x", k, k, k, k), buf.String()} {
		if strings.Contains(s, fmt.Sprintf("%x", k[:8])) || strings.Contains(s, fmt.Sprint(k[0], " ", k[1])) {
			t.Fatalf("key material in %q", s)
		}
		if !strings.Contains(s, k.KeyID()[:8]) && !strings.Contains(s, fmt.Sprintf("%x", "key:"+k.KeyID())) {
			t.Fatalf("no key id in %q", s)
		}
	}
	if len(k.KeyID()) != 16 {
		t.Fatalf("key id %q, want 16 hex digits", k.KeyID())
	}
}
