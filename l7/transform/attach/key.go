package attach

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mailgate/enforcer/l7/configfile"
)

// MasterSize is the size of the master secret file in bytes.
const MasterSize = 32

// keyInfo versions the derivation: a new derivation gets a new string, so
// the two can never give the same key.
const keyInfo = "enforcer attachment key v1"

// Master is the gateway's attachment master secret. Every gateway that
// serves the same devices must hold the same master, so that a device gets
// the same key from any of them. Its String method never prints the secret.
type Master struct {
	secret [MasterSize]byte
}

// Key is the AES-256 key of one device-user pair. Its String and LogValue
// methods print the key id, never the key.
type Key [32]byte

// KeyIDSize is the length of a key id in bytes.
const KeyIDSize = 8

// ID returns the key's identifier: the first 8 bytes of
// SHA-256("enforcer attachment key id v1" || 0x00 || key). It is written in
// every stream header so that a wrong key is reported as such.
func (k Key) ID() [KeyIDSize]byte {
	h := sha256.New()
	h.Write([]byte("enforcer attachment key id v1\x00"))
	h.Write(k[:])
	var id [KeyIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// KeyID returns [Key.ID] in hex, for logs.
func (k Key) KeyID() string {
	id := k.ID()
	return hex.EncodeToString(id[:])
}

// String returns "key:" and the key id.
func (k Key) String() string { return "key:" + k.KeyID() }

// GoString is String, so that %#v does not print the key either.
func (k Key) GoString() string { return k.String() }

// LogValue logs the key id only.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.KeyID()) }

// String never prints the secret.
func (m *Master) String() string { return "attach.Master(redacted)" }

// GoString never prints the secret.
func (m *Master) GoString() string { return m.String() }

// LogValue never logs the secret.
func (m *Master) LogValue() slog.Value { return slog.StringValue("redacted") }

// NormalizeDevice is the form of a device id the key derivation uses:
// trimmed and lower-cased, as EAS device ids are compared without regard to
// case.
func NormalizeDevice(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// NormalizeUser is the form of a user name the key derivation uses:
// trimmed and lower-cased (DOMAIN\user and user@domain stay distinct).
func NormalizeUser(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

// Key derives the key of a device-user pair:
//
//	HKDF-SHA256(secret = master, salt = none,
//	            info = "enforcer attachment key v1" || 0x00 ||
//	                   uint16be(len(d)) || d || uint16be(len(u)) || u)
//
// with d = NormalizeDevice(deviceID) and u = NormalizeUser(user), each
// truncated to 65535 bytes. The lengths keep ("ab","c") and ("a","bc")
// apart. Changing this changes every device's key: a new derivation needs
// a new info string.
func (m *Master) Key(deviceID, user string) Key {
	d, u := NormalizeDevice(deviceID), NormalizeUser(user)
	d, u = d[:min(len(d), 0xffff)], u[:min(len(u), 0xffff)]
	info := make([]byte, 0, len(keyInfo)+1+4+len(d)+len(u))
	info = append(info, keyInfo...)
	info = append(info, 0)
	info = binary.BigEndian.AppendUint16(info, uint16(len(d)))
	info = append(info, d...)
	info = binary.BigEndian.AppendUint16(info, uint16(len(u)))
	info = append(info, u...)
	b, err := hkdf.Key(sha256.New, m.secret[:], nil, string(info), 32)
	if err != nil {
		// Only a key length beyond 255*32 bytes fails; 32 cannot.
		panic("attach: hkdf: " + err.Error())
	}
	var k Key
	copy(k[:], b)
	return k
}

// ErrMasterFile is wrapped by [LoadOrCreateMaster] when the file exists but
// cannot be used as a master secret.
var ErrMasterFile = errors.New("unusable attachment master key file")

// LoadOrCreateMaster reads the master secret from path, creating it with
// 32 random bytes when it does not exist.
//
// A new file is written under a temporary name (O_EXCL, mode 0600), synced,
// then linked into place, which fails if another process created path
// first; the directory is synced after. A crash therefore leaves either no
// file or a whole one, never a short one. An existing file must be a
// regular file, not a symbolic link, of exactly 32 bytes that neither group nor others can read
// or write.
func LoadOrCreateMaster(path string) (*Master, error) {
	m, err := loadMaster(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	if err := createMaster(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return loadMaster(path)
}

func loadMaster(path string) (*Master, error) {
	// Not through a symbolic link, not a FIFO or device: configfile.Open.
	f, err := configfile.Open(path)
	if err != nil {
		if errors.Is(err, configfile.ErrNotRegular) || errors.Is(err, configfile.ErrSymlink) {
			return nil, fmt.Errorf("%w: %w", ErrMasterFile, err)
		}
		return nil, fmt.Errorf("open attachment master key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat attachment master key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file", ErrMasterFile, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w %s: mode %04o lets group or others access the key; run chmod 600 %s", ErrMasterFile, path, perm, path)
	}
	if st.Size() != MasterSize {
		return nil, fmt.Errorf("%w %s: %d bytes, want %d; restore the file from backup (a new key makes every encrypted attachment on devices unreadable)", ErrMasterFile, path, st.Size(), MasterSize)
	}
	m := new(Master)
	if _, err := io.ReadFull(f, m.secret[:]); err != nil {
		return nil, fmt.Errorf("read attachment master key %s: %w", path, err)
	}
	return m, nil
}

func createMaster(path string) (err error) {
	var secret [MasterSize]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return fmt.Errorf("generate attachment master key: %w", err)
	}
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("generate attachment master key: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp-%x", path, nonce)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("create attachment master key: %w", err)
	}
	defer os.Remove(tmp)
	if _, err := f.Write(secret[:]); err != nil {
		f.Close()
		return fmt.Errorf("write attachment master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync attachment master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close attachment master key: %w", err)
	}
	// link(2), unlike rename(2), fails when path exists: two gateways
	// starting at once keep the first key.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("install attachment master key: %w", err)
	}
	os.Remove(tmp)
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sync attachment master key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync attachment master key directory: %w", err)
	}
	return nil
}
