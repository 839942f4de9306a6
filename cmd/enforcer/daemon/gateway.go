package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/l7/configfile"
	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/devicesync"
	"github.com/mailgate/enforcer/l7/proxy"
	"github.com/mailgate/enforcer/l7/tlscert"
	"github.com/mailgate/enforcer/l7/transform"
)

// gateway is the L7 half: the device records and policy, their sync, and
// the proxy. The device store is always there (the CLI's device commands
// work without a proxy); the proxy, push API and puller run when
// configured.
type gateway struct {
	log     *slog.Logger
	store   *device.Store
	db      *devicesync.DB
	proxy   *proxy.Proxy // nil: no proxy configured
	metrics *proxy.Metrics
	puller  *devicesync.Puller

	// filePolicy is devices.policy from the config file, compiled; nil
	// when the file names none (the synced policy is in force).
	filePolicy atomic.Pointer[device.Policy]
	// transforms is the email security in force; nil: none. Reloaded
	// live, from the file or from device management.
	transforms     atomic.Pointer[transform.Rules]
	tmu            sync.Mutex // serialises setTransforms; guards the two below
	fileTransforms transform.Config
	stateDir       string

	// pushAddr is the push API's bound address (nil: not serving).
	pushAddr net.Addr

	// servers are the proxy, push API and pull sync: closed before the
	// device database.
	servers *servers
}

// startGateway opens the device store and starts what cfg configures. The
// proxy starts only after the datapath is attached, so that clients from
// disallowed countries are dropped before the first one is accepted.
func startGateway(cfg *config.Config, log *slog.Logger) (*gateway, error) {
	g := &gateway{log: log, servers: newServers(log)}
	g.store = device.NewStore(device.StoreOptions{
		AllowMailIfNoPolicy: cfg.Devices.AllowMailIfNoPolicy,
		MaxDiscovered:       discoveredLimit(cfg.Devices.MaxDiscovered),
	})
	var err error
	if g.db, err = devicesync.Open(filepath.Join(cfg.StateDir, devicesync.FileName), devicesync.Options{}); err != nil {
		return nil, err
	}
	if err := g.db.Load(g.store); err != nil {
		g.db.Close()
		return nil, fmt.Errorf("load device records: %w", err)
	}
	if err := g.setFilePolicy(cfg.Devices.Policy); err != nil {
		g.db.Close()
		return nil, err
	}
	if err := g.setTransforms(cfg.Transforms, cfg.StateDir); err != nil {
		g.db.Close()
		return nil, err
	}
	fail := func(err error) (*gateway, error) {
		g.Close()
		return nil, err
	}
	if cfg.Proxy.Enabled {
		g.metrics = proxy.NewMetrics()
		pc := cfg.Proxy.Config
		if g.proxy, err = proxy.New(pc, proxy.Deps{Store: g.store, Policy: g.policy, Logger: log.With("component", "proxy"), Metrics: g.metrics, Transforms: g.transforms.Load}); err != nil {
			return fail(err)
		}
		l, err := net.Listen("tcp", pc.Listen)
		if err != nil {
			return fail(fmt.Errorf("proxy listen %s: %w", pc.Listen, err))
		}
		g.servers.run("proxy", l.Addr().String(), func(ctx context.Context) error { return g.proxy.Serve(ctx, l) })
		log.Info("proxy serving", "listen", pc.Listen, "upstream", pc.Upstream, "tls", !pc.PlainHTTP)
	}
	if cfg.Devices.Push.Listen != "" {
		if err := g.startPush(cfg); err != nil {
			return fail(err)
		}
	}
	if cfg.Devices.Pull.URL != "" {
		if err := g.startPull(cfg.Devices.Pull); err != nil {
			return fail(err)
		}
	}
	return g, nil
}

func discoveredLimit(n int) int {
	if n == 0 {
		return -1 // the file's 0: discovery off
	}
	return n
}

// policy is the policy in force: the config file's, else the synced one
// (or none: the store's fail-closed or allow-all stand-in).
func (g *gateway) policy() *device.Policy {
	if p := g.filePolicy.Load(); p != nil {
		return p
	}
	return g.store.Policy()
}

// PolicySource says where the policy in force comes from: "config",
// "device-management" or "none".
func (g *gateway) policySource() string {
	switch {
	case g.filePolicy.Load() != nil:
		return "config"
	case g.store.Policy().Loaded():
		return "device-management"
	}
	return "none"
}

func (g *gateway) setFilePolicy(c *device.Config) error {
	if c == nil {
		g.filePolicy.Store(nil)
		return nil
	}
	p, err := device.NewPolicy(*c)
	if err != nil {
		return fmt.Errorf("devices.policy: %w", err)
	}
	g.filePolicy.Store(p)
	return nil
}

// setTransforms puts the email security in force: the config file's
// transforms section (file) when it is enabled, else the document device
// management pushed or a pull page carried (stored in the device
// database), else none. The next request that carries mail uses it.
func (g *gateway) setTransforms(file transform.Config, stateDir string) error {
	g.tmu.Lock()
	defer g.tmu.Unlock()
	g.fileTransforms, g.stateDir = file, stateDir
	t, source := file, "config"
	if !t.Enabled {
		doc, err := g.db.Transforms()
		if err != nil {
			return err
		}
		if doc == nil {
			g.transforms.Store(nil)
			return nil
		}
		if t, err = config.ParseRemoteTransforms("the stored transforms document", doc); err != nil {
			// Checked when it arrived; a later version of the
			// gateway may read it differently. Keep mail flowing under
			// no transforms rather than refuse to start, and say so.
			g.log.Error("the stored email security document no longer applies; no transforms in force", "error", err)
			g.transforms.Store(nil)
			return nil
		}
		source = "device management"
	}
	r, err := transform.Build(t, stateDir)
	if err != nil {
		return err
	}
	if r != nil {
		r.ShareMemory(g.transforms.Load())
		g.log.Info("email transforms in force", "source", source, "links", r.Links != nil,
			"attachments", r.Attachments != nil, "classification", r.Classifier != nil)
	}
	g.transforms.Store(r)
	return nil
}

// transformsHook takes the document device management pushes or a pull
// page carries.
func (g *gateway) transformsHook() devicesync.TransformsHook {
	return devicesync.TransformsHook{
		Check: func(doc []byte) error {
			t, err := config.ParseRemoteTransforms("transforms", doc)
			if err != nil {
				return err
			}
			g.tmu.Lock()
			dir := g.stateDir
			g.tmu.Unlock()
			_, err = transform.Build(t, dir)
			return err
		},
		Apply: func([]byte) {
			g.tmu.Lock()
			file, dir := g.fileTransforms, g.stateDir
			g.tmu.Unlock()
			if file.Enabled {
				g.log.Warn("an email security document came from device management; the config file's transforms section stays in force")
				return
			}
			if err := g.setTransforms(file, dir); err != nil {
				g.log.Error("the email security document from device management could not be put in force", "error", err)
			}
		},
	}
}

// The push server's limits and certificate check interval: devicesync's
// and tlscert's defaults; tests shorten them.
var (
	pushServerOptions = func(log *slog.Logger) devicesync.PushServerOptions {
		return devicesync.PushServerOptions{Logger: log}
	}
	pushCertCheck time.Duration
)

func (g *gateway) startPush(cfg *config.Config) error {
	push := cfg.Devices.Push
	log := g.log.With("component", "push")
	if push.PlainHTTP && !config.LoopbackListen(push.Listen) {
		// Config validation refuses this without the flag; a second
		// check costs nothing.
		if !push.AllowPlainHTTPOffLoopback {
			return fmt.Errorf("devices.push.plain_http on %s, not a loopback address: the bearer token would cross the network in clear; serve TLS or set allow_plain_http_off_loopback", push.Listen)
		}
		log.Warn("the push API serves plain HTTP off loopback (devices.push.allow_plain_http_off_loopback): its bearer token crosses the network in clear", "listen", push.Listen)
	}
	token, err := readToken(push.TokenFile)
	if err != nil {
		return fmt.Errorf("devices.push.token_file: %w", err)
	}
	h := devicesync.NewPushHandler(g.db, g.store, devicesync.PushOptions{Tokens: [][]byte{token}, Logger: log, Transforms: g.transformsHook()})
	srv, limit := devicesync.NewPushServer(h, pushServerOptions(log))
	var certs *tlscert.Reloader
	if !push.PlainHTTP {
		certFile, keyFile := push.CertFile, push.KeyFile
		if certFile == "" {
			certFile, keyFile = cfg.Proxy.CertFile, cfg.Proxy.KeyFile
		}
		// Reloaded as the proxy's is: a renewed certificate serves
		// without a restart.
		if certs, err = tlscert.New(certFile, keyFile, pushCertCheck, log); err != nil {
			return fmt.Errorf("push API certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", push.Listen)
	if err != nil {
		return fmt.Errorf("devices.push.listen %s: %w", push.Listen, err)
	}
	g.pushAddr = l.Addr()
	l = limit(l)
	if certs != nil {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	g.servers.serve("push", srv, l, nil)
	g.log.Info("device push API serving", "listen", push.Listen, "tls", !push.PlainHTTP)
	return nil
}

func (g *gateway) startPull(pull config.DevicePull) error {
	opts := devicesync.PullOptions{URL: pull.URL, Interval: pull.Interval, Logger: g.log.With("component", "pull"), Transforms: g.transformsHook()}
	if pull.TokenFile != "" {
		t, err := readToken(pull.TokenFile)
		if err != nil {
			return fmt.Errorf("devices.pull.token_file: %w", err)
		}
		opts.Token = t
	}
	if pull.CAFile != "" {
		pem, err := configfile.ReadLinked(pull.CAFile, configfile.MaxPEMBytes)
		if err != nil {
			return fmt.Errorf("devices.pull.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("devices.pull.ca_file %s: no PEM certificate in it", pull.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		opts.Client = &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	}
	var err error
	if g.puller, err = devicesync.NewPuller(g.db, g.store, opts); err != nil {
		return err
	}
	g.servers.run("pull", pull.URL, g.puller.Run)
	g.log.Info("device pull sync running", "url", pull.URL, "interval", pull.Interval)
	return nil
}

// readToken reads a bearer token file: one line, surrounding white space
// ignored, at least 32 characters, not readable by others; a regular file
// named directly (configfile.Open), at most configfile.MaxSecretBytes.
// Errors never quote the file.
func readToken(path string) ([]byte, error) {
	b, fi, err := configfile.ReadStat(path, configfile.MaxSecretBytes)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	t := strings.TrimSpace(string(b))
	if len(t) < 32 || strings.ContainsAny(t, "\r\n") {
		return nil, fmt.Errorf("%s: want one line of at least 32 characters (e.g. `openssl rand -hex 32 > %s`)", path, path)
	}
	return []byte(t), nil
}

// Close stops the proxy (long polls are cut; clients reissue them), the
// sync and the device store.
func (g *gateway) Close() error {
	g.servers.Close()
	if g.db != nil {
		return g.db.Close()
	}
	return nil
}

var _ io.Closer = (*gateway)(nil)

// reload applies what can change live: the transforms and the file's
// device policy. The rest of the gateway's settings need a restart, and
// Reload refuses a file that changes them (restartOnly).
func (g *gateway) reload(cfg *config.Config) error {
	// Transforms first: the only step that reads files, so the one that
	// may fail; the file's policy was compiled when the file was parsed.
	if err := g.setTransforms(cfg.Transforms, cfg.StateDir); err != nil {
		return err
	}
	return g.setFilePolicy(cfg.Devices.Policy)
}
