package transform

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/links"
)

// TestBuildConfigFiles: the files the config file names are
// opened through configfile: not through a symbolic link, regular, and
// size-capped. Before, a FIFO blocked the daemon for ever, a symlink was
// followed and any size was read.
func TestBuildConfigFiles(t *testing.T) {
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
	withDomains := func(file string) Config {
		return Config{Enabled: true, Links: &LinkRules{Config: links.Config{Mode: links.Include, HTTPScheme: "a", HTTPSScheme: "b"}, DomainsFile: file}}
	}
	for _, tc := range []struct {
		name string
		t    Config
		want string
	}{
		{"domains symlink", withDomains(link), "symbolic link"},
		{"domains fifo", withDomains(fifo), "not a regular file"},
		{"domains directory", withDomains(dir), "not a regular file"},
		{"domains oversize", withDomains(big), "larger than allowed"},
		{"key symlink", Config{Enabled: true, Attachments: &AttachmentRules{Policy: attach.Policy{Managed: attach.RuleSet{Default: attach.Encrypt}}, KeyFile: keyLink}}, "symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Build(tc.t, dir); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Build: %v, want %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Build blocked on the file")
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "attachment.key")); err == nil {
		t.Error("a key was created through the symlink")
	}
	if _, err := Build(withDomains(good), dir); err != nil {
		t.Fatalf("a plain domain list: %v", err)
	}
}
