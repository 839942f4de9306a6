// Package tlscert serves a TLS listener's certificate from a certificate
// and key file pair and reloads it when the files change, so that a
// renewed certificate (certbot, an ACME client, an operator's copy) takes
// effect without a restart. The proxy and the device push API both use it.
//
// It knows certificate files only, not the servers that use them.
package tlscert

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailgate/enforcer/l7/configfile"
)

// DefaultCheckInterval is how often a handshake may look at the files
// when New is given no interval.
const DefaultCheckInterval = 5 * time.Second

// Reloader serves the certificate of a file pair. A handshake checks the
// files' modification times and sizes at most once per interval; only one
// handshake at a time does so, the others keep the current certificate.
type Reloader struct {
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

// New loads the pair and returns its Reloader. interval 0 means
// DefaultCheckInterval; log nil means slog.Default().
func New(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*Reloader, error) {
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Reloader{certFile: certFile, keyFile: keyFile, interval: interval, log: log}
	st, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cert.Store(&cert)
	c.seen = st
	c.lastCheck.Store(time.Now().UnixNano())
	return c, nil
}

// load reads the pair as configfile does (regular files, size-capped; a
// symbolic link is followed, as ACME clients keep the files behind links).
func load(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := configfile.ReadLinked(certFile, configfile.MaxPEMBytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate: %w", err)
	}
	keyPEM, err := configfile.ReadLinked(keyFile, configfile.MaxSecretBytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

func (c *Reloader) stamps() (fileStamps, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamps{}, fmt.Errorf("certificate: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamps{}, fmt.Errorf("certificate key: %w", err)
	}
	return fileStamps{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (c *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
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
func (c *Reloader) check() {
	st, err := c.stamps()
	if err != nil {
		c.log.Error("certificate check failed; keeping the current certificate", "err", err)
		return
	}
	if st == c.seen {
		return
	}
	c.seen = st
	cert, err := load(c.certFile, c.keyFile)
	if err != nil {
		c.log.Error("certificate changed but does not load; keeping the current certificate",
			"cert", c.certFile, "key", c.keyFile, "err", err)
		return
	}
	c.cert.Store(&cert)
	c.log.Info("certificate reloaded", "cert", c.certFile)
}
