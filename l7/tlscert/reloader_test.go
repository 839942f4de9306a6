package tlscert_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/tlscert"
	"github.com/mailgate/enforcer/l7/tlscert/tlscerttest"
)

// TestReloaderServesRenewedCertificate: after the files are replaced, new
// handshakes get the new certificate.
func TestReloaderServesRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	tlscerttest.WritePair(t, certFile, keyFile, "old.test", t0)
	r, err := tlscert.New(certFile, keyFile, time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, err := r.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	if got := cn(); got != "old.test" {
		t.Fatalf("serves %q, want old.test", got)
	}
	tlscerttest.WritePair(t, certFile, keyFile, "new.test", t0.Add(time.Minute))
	deadline := time.Now().Add(5 * time.Second)
	for cn() != "new.test" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReloaderRefusesOddFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscerttest.WritePair(t, certFile, keyFile, "a.test", time.Now())
	if _, err := tlscert.New(certFile, dir, 0, nil); err == nil {
		t.Fatal("a directory as the key file was accepted")
	}
	// A symbolic link is followed for certificates (certbot's live/).
	link := filepath.Join(dir, "live.pem")
	if err := os.Symlink(certFile, link); err != nil {
		t.Fatal(err)
	}
	if _, err := tlscert.New(link, keyFile, 0, nil); err != nil {
		t.Fatalf("certificate behind a symlink: %v", err)
	}
}
