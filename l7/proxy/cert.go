package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certReloader serves the listener's certificate and reloads it when the
// files change, so a renewed certificate (certbot, an ACME client, an
// operator's copy) takes effect without a restart. A handshake checks the
// files' modification times and sizes at most once per interval; only one
// handshake at a time does so, the others keep the current certificate.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger

	cert      atomic.Pointer[tls.Certificate]
	lastCheck atomic.Int64 // unix nanoseconds

	mu   sync.Mutex // held by the handshake that checks
	seen fileStamps // of the last pair tried, loaded or not
}

type fileStamps struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newCertReloader(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, interval: interval, log: log}
	st, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("proxy: load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	c.cert.Store(&cert)
	c.seen = st
	c.lastCheck.Store(time.Now().UnixNano())
	return c, nil
}

func (c *certReloader) stamps() (fileStamps, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamps{}, fmt.Errorf("proxy: certificate: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamps{}, fmt.Errorf("proxy: certificate key: %w", err)
	}
	return fileStamps{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	if now-c.lastCheck.Load() >= int64(c.interval) && c.mu.TryLock() {
		c.lastCheck.Store(now)
		c.check()
		c.mu.Unlock()
	}
	return c.cert.Load(), nil
}

// check reloads the pair if either file changed since the last attempt. A
// pair that does not load (the certificate renewed but the key not yet
// written) keeps the old certificate in service; the next change is tried
// again.
func (c *certReloader) check() {
	st, err := c.stamps()
	if err != nil {
		c.log.Error("certificate check failed; keeping the current certificate", "err", err)
		return
	}
	if st == c.seen {
		return
	}
	c.seen = st
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.log.Error("certificate changed but does not load; keeping the current certificate",
			"cert", c.certFile, "key", c.keyFile, "err", err)
		return
	}
	c.cert.Store(&cert)
	c.log.Info("certificate reloaded", "cert", c.certFile)
}
