// Package configfile opens the files a configuration names (token, key,
// certificate, CA and list files) the one careful way: the daemon runs as
// root, so a path it is handed must not become a way to read, block on or
// exhaust memory with some other file.
//
// Open refuses a symbolic link as the final component (O_NOFOLLOW; the
// directories above are the operator's), never blocks on a FIFO or a device
// (O_NONBLOCK), refuses anything but a regular file (checked with fstat on
// the opened descriptor, so there is no window between check and use), and
// Read refuses a file larger than the cap of its kind.
//
// It knows files, not what they hold: each caller parses the bytes it
// gets.
package configfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Size caps, per kind of file.
const (
	// MaxSecretBytes caps token and key files (a bearer token, the
	// attachment master key, a TLS private key): 1 MiB.
	MaxSecretBytes = 1 << 20
	// MaxPEMBytes caps certificate chains and CA bundles: 4 MiB (a full
	// system trust store is about 250 KiB).
	MaxPEMBytes = 4 << 20
	// MaxListBytes caps list files (links.domains_file): 16 MiB.
	MaxListBytes = 16 << 20
)

// Errors wrapped by Open and Read.
var (
	// ErrSymlink: the path's final component is a symbolic link.
	ErrSymlink = errors.New("is a symbolic link; name the file itself")
	// ErrNotRegular: the path is a directory, FIFO, socket or device.
	ErrNotRegular = errors.New("is not a regular file")
	// ErrTooLarge: the file is over the cap of its kind.
	ErrTooLarge = errors.New("is larger than allowed")
)

// Open opens path for reading: a regular file, not through a symbolic
// link in its final component. Errors name the path, never its content.
func Open(path string) (*os.File, error) { return open(path, syscall.O_NOFOLLOW) }

// OpenLinked is Open that follows a symbolic link in the final component:
// for certificates and their keys only, which ACME clients keep behind
// links (certbot's live/ directory) and which only the local
// configuration names.
func OpenLinked(path string) (*os.File, error) { return open(path, 0) }

func open(path string, flags int) (*os.File, error) {
	// O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer
	// forever; on a regular file the flag changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|flags|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s %w", path, ErrSymlink)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s %w (%s)", path, ErrNotRegular, kind(st.Mode()))
	}
	return f, nil
}

// Read returns the content of path, opened as Open does, refusing a file
// of more than max bytes (checked on the size and again while reading,
// for a file that grows).
func Read(path string, max int64) ([]byte, error) {
	b, _, err := ReadStat(path, max)
	return b, err
}

// ReadStat is Read that also returns the file's information (mode,
// owner), taken from the descriptor the content was read from.
func ReadStat(path string, max int64) ([]byte, os.FileInfo, error) {
	return readStat(path, max, syscall.O_NOFOLLOW)
}

// ReadLinked is Read through OpenLinked: for certificates and their keys.
func ReadLinked(path string, max int64) ([]byte, error) {
	b, _, err := readStat(path, max, 0)
	return b, err
}

func readStat(path string, max int64, flags int) ([]byte, os.FileInfo, error) {
	f, err := open(path, flags)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > max {
		return nil, nil, fmt.Errorf("%s %w: %d bytes, at most %d", path, ErrTooLarge, st.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, nil, fmt.Errorf("%s %w: more than %d bytes", path, ErrTooLarge, max)
	}
	return b, st, nil
}

// Reader is an open file whose reads stop with ErrTooLarge past a cap:
// for files parsed as a stream.
type Reader struct {
	f    *os.File
	path string
	left int64
}

// OpenLimited opens path as Open does, refusing a file larger than max
// bytes; reading past max bytes (the file grew) fails with ErrTooLarge.
func OpenLimited(path string, max int64) (*Reader, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() > max {
		f.Close()
		return nil, fmt.Errorf("%s %w: %d bytes, at most %d", path, ErrTooLarge, st.Size(), max)
	}
	return &Reader{f: f, path: path, left: max}, nil
}

// Read reads from the file, failing past the cap.
func (r *Reader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		// One byte more tells a file of exactly max bytes from a longer one.
		var one [1]byte
		if n, err := r.f.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%s %w: it grew while being read", r.path, ErrTooLarge)
		} else {
			return 0, err
		}
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.left -= int64(n)
	return n, err
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}
