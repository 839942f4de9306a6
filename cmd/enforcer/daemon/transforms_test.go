package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
)

// TestBuildTransformsConfigFiles: the files the config file names are
// opened through configfile: not through a symbolic link, regular, and
// size-capped. Before, a FIFO blocked the daemon for ever, a symlink was
// followed and any size was read.
func TestBuildTransformsConfigFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "domains.csv")
	if err := os.WriteFile(good, []byte("intranet.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 17<<20); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	keyLink := filepath.Join(dir, "key.link")
	if err := os.Symlink(filepath.Join(dir, "attachment.key"), keyLink); err != nil {
		t.Fatal(err)
	}
	links := func(file string) config.Transforms {
		return config.Transforms{Enabled: true, Links: &config.LinkRules{Mode: "include", HTTPScheme: "a", HTTPSScheme: "b", DomainsFile: file}}
	}
	for _, tc := range []struct {
		name string
		t    config.Transforms
		want string
	}{
		{"domains symlink", links(link), "symbolic link"},
		{"domains fifo", links(fifo), "not a regular file"},
		{"domains directory", links(dir), "not a regular file"},
		{"domains oversize", links(big), "larger than allowed"},
		{"key symlink", config.Transforms{Enabled: true, Attachments: &config.AttachmentRules{Managed: config.AttachmentSet{Default: "encrypt"}, Unmanaged: config.AttachmentSet{Default: "allow"}, KeyFile: keyLink}}, "symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := buildTransforms(tc.t, dir); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("buildTransforms: %v, want %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("buildTransforms blocked on the file")
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "attachment.key")); err == nil {
		t.Error("a key was created through the symlink")
	}
	if _, err := buildTransforms(links(good), dir); err != nil {
		t.Fatalf("a plain domain list: %v", err)
	}
}
