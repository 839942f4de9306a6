package configfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/configfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "token")
	if err := os.WriteFile(regular, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		max  int64
		want error
	}{
		{"regular", regular, 10, nil},
		{"symlink", link, 10, configfile.ErrSymlink},
		{"fifo", fifo, 10, configfile.ErrNotRegular},
		{"directory", sub, 10, configfile.ErrNotRegular},
		{"oversize", regular, 9, configfile.ErrTooLarge},
		{"missing", filepath.Join(dir, "none"), 10, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() { b, err = configfile.Read(tc.path, tc.max); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Read blocked")
			}
			if tc.want == nil {
				if err != nil || string(b) != "0123456789" {
					t.Fatalf("Read = %q, %v; want the content", b, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read error = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "0123456789") {
				t.Fatalf("error %q echoes the content", err)
			}
		})
	}
}

func TestOpenLimitedGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list")
	if err := os.WriteFile(path, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := configfile.OpenLimited(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.WriteFile(path, []byte("abcdefgh"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf [16]byte
	var total int
	for {
		n, err := r.Read(buf[total:])
		total += n
		if err != nil {
			if !errors.Is(err, configfile.ErrTooLarge) {
				t.Fatalf("read past the cap: %v, want ErrTooLarge", err)
			}
			break
		}
		if total > 4 {
			t.Fatalf("read %d bytes past a cap of 4", total)
		}
	}
}
