package tlscert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/tlscert"
)

// mustWritePair writes a self-signed certificate for cn and its key.
func mustWritePair(tb testing.TB, certFile, keyFile, cn string, mod time.Time) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	// Distinct modification times, whatever the file system's clock
	// granularity.
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mod, mod); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestReloaderServesRenewedCertificate: after the files are replaced, new
// handshakes get the new certificate.
func TestReloaderServesRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	mustWritePair(t, certFile, keyFile, "old.test", t0)
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
	mustWritePair(t, certFile, keyFile, "new.test", t0.Add(time.Minute))
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
	mustWritePair(t, certFile, keyFile, "a.test", time.Now())
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
