package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/l7/httperror"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/loader/metrics"
	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
	"github.com/mailgate/enforcer/policy/store"
)

// Options configure Run.
type Options struct {
	ConfigPath string
	Version    string
	Log        io.Writer // structured logs; stderr when nil
}

// Daemon is a running enforcer.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	level *slog.LevelVar // run-time log level (`enforcer log level`)
	gw    *gateway
	// servers are the admin socket, admin page and metrics.
	servers *servers
	// adminAddr is the admin page's bound address (nil: off).
	adminAddr net.Addr

	mu     sync.Mutex // serialises changes and reloads
	cfg    *config.Config
	st     *store.Store
	dp     *loader.Datapath
	geo    geoState
	now    applied
	ifaces []adminapi.InterfaceStatus

	pinWarning string // why the pins die with the daemon; "" if they do not

	// expiry fires when the next allow or deny entry expires (nil: none
	// does); stopped is set when Run returns, so that a timer firing
	// then does nothing. Both under mu.
	expiry  *time.Timer
	stopped bool
}

type geoState struct {
	path     string
	meta     geoip.Metadata
	networks []policy.Network
	err      error // why no database is loaded
}

// applied is what the datapath enforces right now.
type applied struct {
	pol   *policy.Policy
	model *policy.Model
	ids   map[string]uint8
	state store.State
	table srctable.Stats
}

// Run runs the daemon until ctx ends. The XDP program and its pinned maps
// stay behind when it returns: enforcement goes on without the daemon.
func Run(ctx context.Context, opts Options) error {
	cfg, err := config.LoadDerived(ctx, opts.ConfigPath)
	if err != nil {
		return err
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	d := &Daemon{opts: opts, cfg: cfg, started: time.Now(), level: new(slog.LevelVar)}
	d.level.Set(cfg.Log.Level)
	d.log = newLogger(opts.Log, cfg.Log.Format, d.level)
	d.log.Info("starting", "version", opts.Version, "config", opts.ConfigPath, "state_dir", cfg.StateDir, "bpffs", cfg.BPFFSDir)
	d.warnUpstream(ctx, cfg)

	if d.st, err = store.Open(cfg.StateDir); err != nil {
		return err
	}
	defer d.st.Close()
	if n, err := d.st.DropExpired(time.Now()); err != nil {
		return err
	} else if n > 0 {
		d.log.Info("dropped expired entries", "entries", n)
	}
	// Runs before the store closes (defers run last first).
	defer d.stopExpiry()
	if d.pinWarning = privateBPFFS(cfg.BPFFSDir); d.pinWarning != "" {
		d.log.Warn("the pinned datapath will not outlive this process", "problem", d.pinWarning)
	}
	// Loading re-uses the pinned maps: the program of an earlier run goes
	// on enforcing their contents until Attach swaps in the new one.
	if d.dp, err = loader.Load(loader.Options{PinDir: cfg.BPFFSDir}); err != nil {
		return err
	}
	defer d.dp.Close()
	d.geo = loadGeoIP(cfg.GeoIP.Database)
	if d.geo.err != nil {
		if cfg.GeoIP.Required {
			return fmt.Errorf("geoip database (geoip.required is true): %w", d.geo.err)
		}
		d.log.Warn("no GeoIP database: geofenced services admit only allowlisted sources", "path", cfg.GeoIP.Database, "error", d.geo.err)
	}
	// Under mu: from the first apply on, the expiry timer may fire.
	d.mu.Lock()
	err = d.apply()
	if err == nil {
		d.warnCountryRemovals()
		d.attachAll() // a failure is logged and shown by status; the other interfaces are guarded
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}

	// The device store and the proxy start once the datapath guards the
	// interfaces: no client from a disallowed country is ever accepted.
	if d.gw, err = startGateway(cfg, d.log); err != nil {
		return err
	}
	defer d.gw.Close()

	// Closed before the gateway (defers run last first), as it was
	// started after it.
	d.servers = newServers(d.log)
	defer d.servers.Close()
	if err := d.serveAdmin(); err != nil {
		return err
	}
	if cfg.Admin.Listen != "" {
		if err := d.serveAdminPage(); err != nil {
			return err
		}
	}
	if cfg.Metrics.Listen != "" {
		if err := d.serveMetrics(); err != nil {
			return err
		}
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d.log.Info("running", "admin_socket", cfg.Admin.Socket, "metrics", cfg.Metrics.Listen)
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping; the pinned XDP program keeps enforcing")
			return nil
		case <-hup:
			if err := d.Reload(); err != nil {
				d.log.Error("reload failed; the previous configuration stays in force", "error", err)
			}
		}
	}
}

// warnUpstream logs every way clients can reach the mail server around
// the proxy under cfg.
func (d *Daemon) warnUpstream(ctx context.Context, cfg *config.Config) {
	for _, w := range cfg.UpstreamWarnings(ctx, config.LookupHost) {
		d.log.Warn("the mail server is reachable around the proxy", "problem", w)
	}
}

func newLogger(w io.Writer, format config.LogFormat, level slog.Leveler) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

func loadGeoIP(path string) geoState {
	g := geoState{path: path}
	db, err := geoip.Open(path)
	if err != nil {
		g.err = err
		return g
	}
	defer db.Close()
	g.meta = db.Metadata()
	if g.networks, err = db.CountryTable(); err != nil {
		g.err = err
		g.networks = nil
	}
	return g
}

// apply makes the datapath enforce config + state + GeoIP, as composed by
// policy/compose, and persists the service ids it assigned. The caller
// holds d.mu (or is Run before serving).
func (d *Daemon) apply() error {
	state, err := d.st.Snapshot()
	if err != nil {
		return err
	}
	now := time.Now()
	in := d.cfg.PolicyInput()
	in.State, in.Networks, in.Now = state, d.geo.networks, now
	res, err := compose.Compose(in)
	if err != nil {
		return err
	}
	if !maps.Equal(res.IDs, state.ServiceIDs) {
		if err := d.st.SetServiceIDs(res.IDs); err != nil {
			return err
		}
		// Storing the ids made a new revision: report that one.
		if state.Revision, err = d.st.Revision(); err != nil {
			return err
		}
		state.ServiceIDs = res.IDs
	}
	pol := res.Policy
	t0 := time.Now()
	if err := d.dp.Apply(pol); err != nil {
		return err
	}
	d.now = applied{pol: pol, model: res.Model, ids: res.IDs, state: state.Live(now), table: d.dp.TableStats()}
	d.scheduleExpiry(state.NextExpiry(now))
	d.log.Info("policy applied", "revision", state.Revision, "services", len(pol.Services),
		"deny", len(pol.Deny), "country_networks", len(pol.Networks), "table_cells", d.now.table.Cells, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// scheduleExpiry arms the expiry timer for next (zero: no entry
// expires). The caller holds d.mu.
func (d *Daemon) scheduleExpiry(next time.Time) {
	if d.expiry != nil {
		d.expiry.Stop()
		d.expiry = nil
	}
	if next.IsZero() || d.stopped {
		return
	}
	d.expiry = time.AfterFunc(time.Until(next), d.expire)
}

// expire deletes the entries that have expired and applies the policy
// without them; apply arms the timer for the next expiry. A failure is
// logged: the datapath keeps the expired entries until the next change,
// reload or restart, so it is retried in a minute.
func (d *Daemon) expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	n, err := d.st.DropExpired(time.Now())
	if err == nil {
		err = d.apply()
	}
	if err != nil {
		d.log.Error("removing expired entries failed; retrying in a minute", "error", err)
		d.scheduleExpiry(time.Now().Add(time.Minute))
		return
	}
	d.log.Info("expired entries removed", "entries", n, "revision", d.now.state.Revision)
}

func (d *Daemon) stopExpiry() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	d.scheduleExpiry(time.Time{})
}

// attachError is an interface that could not be attached: the rest of
// the configuration is in force.
type attachError struct{ errs []error }

func (e *attachError) Error() string {
	return fmt.Sprintf("the configuration is in force, but %v; fix it and run `enforcer reload` again", errors.Join(e.errs...))
}

// warnCountryRemovals logs the country removals an older enforcer stored:
// they override the config file until dropped.
func (d *Daemon) warnCountryRemovals() {
	for name, o := range d.now.state.Countries {
		if len(o.Removed) > 0 {
			d.log.Warn("runtime country removals override the config file; `enforcer country reset --service "+name+"` makes the service follow the file",
				"service", name, "removed", o.Removed)
		}
	}
}

// attachAll attaches to every configured interface. A failure on one is
// logged, reported by status and returned as an *attachError; the others
// are still guarded.
func (d *Daemon) attachAll() error {
	d.ifaces = nil
	var errs []error
	for _, ifc := range d.cfg.Interfaces {
		st := adminapi.InterfaceStatus{Name: ifc.Name}
		mode, err := loader.ParseMode(string(ifc.XDPMode))
		if err == nil {
			mode, err = d.dp.Attach(ifc.Name, mode)
		}
		if err != nil {
			st.Error = err.Error()
			errs = append(errs, fmt.Errorf("interface %s is not guarded: %w", ifc.Name, err))
			d.log.Error("attach failed: interface not guarded", "interface", ifc.Name, "error", err)
		} else {
			st.Mode = mode.String()
			d.log.Info("attached", "interface", ifc.Name, "mode", mode)
		}
		d.ifaces = append(d.ifaces, st)
	}
	if errs != nil {
		return &attachError{errs}
	}
	return nil
}

// restartOnly lists the settings that differ between old and cfg and
// that the running daemon cannot change: where its state lives, what it
// listens on, and the gateway's proxy and sync endpoints. Reload refuses
// a file that changes any of them, whichever part of the daemon owns it,
// so that what runs is always one whole version of the file, never the
// new datapath with the old proxy.
func restartOnly(old, cfg *config.Config) []string {
	var changed []string
	for _, s := range []struct {
		name string
		same bool
	}{
		{"state_dir", cfg.StateDir == old.StateDir},
		{"bpffs_dir", cfg.BPFFSDir == old.BPFFSDir},
		{"admin.socket", cfg.Admin.Socket == old.Admin.Socket},
		{"admin.listen", cfg.Admin.Listen == old.Admin.Listen},
		{"metrics.listen", cfg.Metrics.Listen == old.Metrics.Listen},
		{"proxy", reflect.DeepEqual(cfg.Proxy, old.Proxy)},
		{"devices.push", cfg.Devices.Push == old.Devices.Push},
		{"devices.pull", cfg.Devices.Pull == old.Devices.Pull},
		{"devices.allow_mail_if_no_policy", cfg.Devices.AllowMailIfNoPolicy == old.Devices.AllowMailIfNoPolicy},
		{"devices.max_discovered", cfg.Devices.MaxDiscovered == old.Devices.MaxDiscovered},
	} {
		if !s.same {
			changed = append(changed, s.name)
		}
	}
	return changed
}

// Reload re-reads the config file and the GeoIP database and applies them
// with no enforcement gap: a new table is switched in atomically. On any
// error the previous configuration stays in force.
func (d *Daemon) Reload() error {
	cfg, err := config.LoadDerived(context.Background(), d.opts.ConfigPath)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if changed := restartOnly(d.cfg, cfg); len(changed) > 0 {
		return fmt.Errorf("%s changed in %s, and take effect only on restart: restore them and reload, or restart the daemon (`systemctl restart enforcer`: the XDP program keeps enforcing meanwhile)",
			strings.Join(changed, ", "), d.opts.ConfigPath)
	}
	geo := loadGeoIP(cfg.GeoIP.Database)
	if geo.err != nil {
		if cfg.GeoIP.Required {
			return fmt.Errorf("geoip database: %w", geo.err)
		}
		if d.geo.err == nil {
			// Keep the database in force rather than fall back to none.
			d.log.Warn("GeoIP database unreadable; keeping the loaded one", "path", cfg.GeoIP.Database, "error", geo.err)
			geo = d.geo
		}
	}
	// The datapath first: a failed Apply leaves its tables exactly as they
	// were, and nothing else has changed yet. The gateway's part can fail
	// too (it reads the transforms files); then the datapath goes back.
	old, oldGeo := d.cfg, d.geo
	d.cfg, d.geo = cfg, geo
	if err := d.apply(); err != nil {
		d.cfg, d.geo = old, oldGeo
		return err
	}
	if err := d.gw.reload(cfg); err != nil {
		d.cfg, d.geo = old, oldGeo
		if rerr := d.apply(); rerr != nil {
			return fmt.Errorf("%w; restoring the previous datapath policy failed too, it enforces the new one: %v", err, rerr)
		}
		return err
	}
	attachErr := d.attachAll()
	d.level.Set(cfg.Log.Level)
	d.warnUpstream(context.Background(), cfg)
	d.log.Info("reloaded", "config", d.opts.ConfigPath, "geoip_build", geo.meta.BuildTime)
	return attachErr
}

// ReloadGeoIP re-reads the GeoIP database in force (the path the running
// configuration names) and switches the country tables, as Reload does but
// without reading the config file: a half-edited file does not stop a
// database update from taking effect. A database that cannot be read is
// an error, and the loaded one stays in force.
func (d *Daemon) ReloadGeoIP() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	geo := loadGeoIP(d.cfg.GeoIP.Database)
	if geo.err != nil {
		return httperror.BadRequest("geoip database: %v; the database loaded before stays in force", geo.err)
	}
	old := d.geo
	d.geo = geo
	if err := d.apply(); err != nil {
		d.geo = old
		return fmt.Errorf("geoip database %s: %w; the database loaded before stays in force", geo.path, err)
	}
	d.log.Info("GeoIP database reloaded", "path", geo.path, "geoip_build", geo.meta.BuildTime, "networks", len(geo.networks))
	return nil
}

func (d *Daemon) serveAdmin() error {
	sock := d.cfg.Admin.Socket
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return fmt.Errorf("admin socket directory: %w", err)
	}
	// A socket left by a daemon that died: nobody answers on it.
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		return fmt.Errorf("admin socket %s: another enforcer daemon answers there", sock)
	}
	os.Remove(sock)
	old := syscall.Umask(0o177) // the socket is born root-only
	l, err := net.Listen("unix", sock)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	srv := &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second}
	d.servers.serve("admin socket", srv, l, func() { os.Remove(sock) })
	return nil
}

// serveAdminPage serves the read-only admin page on admin.listen (a
// loopback address: config refuses others): the GET paths of the admin
// API, the CSV exports, and an index page linking them.
func (d *Daemon) serveAdminPage() error {
	mux := http.NewServeMux()
	get := func(path string, f func(r *http.Request) (any, error)) { mux.HandleFunc("GET "+path, d.handle(f)) }
	get(adminapi.PathStatus, d.status)
	get(adminapi.PathStats, d.stats)
	get(adminapi.PathServices, d.services)
	d.deviceRoutes(get, nil)
	mux.HandleFunc("GET "+adminapi.PathExport, d.exportHandler)
	mux.HandleFunc("GET /{$}", d.indexPage)
	l, err := net.Listen("tcp", d.cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen %s: %w", d.cfg.Admin.Listen, err)
	}
	d.adminAddr = l.Addr()
	srv := &http.Server{Handler: loopbackOnly(hostGuard(l.Addr().String(), func() []string { return d.cfgSnapshot().Admin.Hosts }, mux)), ReadHeaderTimeout: 10 * time.Second}
	d.servers.serve("admin page", srv, l, nil)
	return nil
}

// cfgSnapshot returns the configuration in force.
func (d *Daemon) cfgSnapshot() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) serveMetrics() error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.New(d.dp, d.metricsInfo),
	)
	if d.gw.metrics != nil {
		reg.MustRegister(d.gw.metrics)
	}
	l, err := net.Listen("tcp", d.cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", d.cfg.Metrics.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	d.servers.serve("metrics", srv, l, nil)
	return nil
}

func (d *Daemon) metricsInfo() metrics.Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return metrics.Info{ServiceNames: d.names(), GeoIPBuilt: d.geo.meta.BuildTime, TableCells: d.now.table.Cells, TableClasses: d.now.table.Classes}
}

func (d *Daemon) names() map[uint8]string {
	n := map[uint8]string{}
	for name, id := range d.now.ids {
		n[id] = name
	}
	return n
}

// bpffsRoot is where bpffs is mounted by convention; loader.Load mounts
// it there when a pin directory below it finds nothing mounted.
const bpffsRoot = "/sys/fs/bpf"

// privateBPFFS says why pins under pinDir would not outlive the daemon,
// or "" if they will: the daemon runs in another mount namespace than
// init's (or than its parent's, where init's cannot be read), and the
// bpffs at bpffsRoot here is not that namespace's (or none is mounted, and
// loader.Load will mount one). `ip netns exec` does that: it remounts /sys
// for the network namespace, with a fresh bpffs or none. That bpffs, with
// every pin on it, goes with the last process of the mount namespace, so
// the program stops enforcing when the daemon exits and a new daemon
// cannot re-use it.
func privateBPFFS(pinDir string) string {
	if !strings.HasPrefix(filepath.Clean(pinDir)+"/", bpffsRoot+"/") {
		return ""
	}
	ref, ok := referenceProcess()
	if !ok {
		return ""
	}
	ours, okOurs := bpffsDev(bpffsRoot)
	// /proc/PID/root resolves paths in that process's mount namespace.
	host, okHost := bpffsDev(fmt.Sprintf("/proc/%d/root%s", ref, bpffsRoot))
	if okOurs && okHost && ours == host {
		return ""
	}
	return fmt.Sprintf("the bpffs at %s in this mount namespace is not the host's (started under `ip netns exec`?): "+
		"it is private, its pins in %s vanish when the daemon exits, the XDP program stops enforcing with it, "+
		"and a restart cannot re-use it; start the daemon with `nsenter --net=/run/netns/NAME` (which keeps the host's %s) instead", bpffsRoot, pinDir, bpffsRoot)
}

// referenceProcess is a process in the mount namespace the daemon is
// meant to share, when it is not in it: init, or, where init's namespace
// cannot be read (a sandbox), the parent that started the daemon (`ip
// netns exec` execs the daemon in a namespace of its own; nsenter --net
// and systemd leave it in theirs). false when the daemon shares it or it
// cannot be told: no false alarm.
func referenceProcess() (int, bool) {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return 0, false
	}
	for _, pid := range []int{1, os.Getppid()} {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		if err != nil {
			continue
		}
		return pid, ns != self
	}
	return 0, false
}

// bpffsDev returns the device of the bpffs mounted at dir; false when dir
// is not on bpffs.
func bpffsDev(dir string) (uint64, bool) {
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Statfs(dir, &fs) != nil || fs.Type != unix.BPF_FS_MAGIC || unix.Stat(dir, &st) != nil {
		return 0, false
	}
	return st.Dev, true
}
