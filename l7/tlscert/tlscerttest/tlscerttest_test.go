package tlscerttest_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/tlscert/tlscerttest"
)

// TestWritePair: the pair loads, names cn, and carries the given time.
func TestWritePair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tlscerttest.WritePair(t, certFile, keyFile, "gw.test", mod)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("gw.test"); err != nil {
		t.Error(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if fi, err := os.Stat(f); err != nil || !fi.ModTime().Equal(mod) {
			t.Errorf("%s: mod time %v, %v; want %v", f, fi.ModTime(), err, mod)
		}
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}
