package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockedError is returned when another run holds the lock file. A run
// never waits for the lock: cron starts the next run soon enough, and
// queued runs would only repeat the work of the one that holds it.
type LockedError struct {
	Path string // the lock file
	PID  int    // the holder's process ID as it wrote it, 0 if unknown
}

// Error implements error.
func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("another update is running: %s holds the lock %s; this run changed nothing, try again later", holder, e.Path)
}

// fileLock is an exclusive flock(2) on a lock file. flock is what
// geoipupdate takes on the same file, so enforcer's updater and MaxMind's
// exclude each other too. The lock belongs to the open file description:
// it goes away when the process dies, so a crash leaves no stale lock.
type fileLock struct {
	f *os.File
}

// acquireLock takes the lock at path or fails at once with *LockedError.
func acquireLock(path string) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The PID is only for the message another run prints; geoipupdate
	// leaves the file empty and ignores its content.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// release empties the lock file (the PID is no longer true) and unlocks it
// by closing it. The file stays, as geoipupdate's does.
func (l *fileLock) release() error {
	l.f.Truncate(0)
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("release lock %s: %w", l.f.Name(), err)
	}
	return nil
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}
