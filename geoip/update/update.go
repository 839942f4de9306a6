// Package update implements `enforcer geoip update`: it keeps MaxMind
// databases current with the configuration and protocol of MaxMind's
// geoipupdate, so an operator can point it at an existing GeoIP.conf.
//
// For each edition a run
//
//  1. compares the MD5 of the installed <DatabaseDirectory>/<Edition>.mmdb
//     with the server's metadata, and stops there if they match (nothing is
//     downloaded);
//  2. downloads the release's tar.gz and extracts the .mmdb into
//     <Edition>.mmdb.tmp in the same directory, hashing it on the way;
//  3. refuses it unless its MD5 matches the metadata, it opens with
//     geoip.Open (an edition without country data, such as GeoLite2-ASN,
//     is installed but logged as unusable by enforcer), and it was built no
//     earlier than the installed one;
//  4. fsyncs it, hard-links the installed file to <Edition>.mmdb.prev (the
//     previous release, kept for rollback: rename it back and reload),
//     renames the new file over <Edition>.mmdb and fsyncs the directory.
//
// Readers therefore see either the old or the new file, never a partial
// one, and a failed run leaves the installed file as it was and no
// temporary file behind.
//
// A run holds an exclusive flock on LockFile throughout and fails at once
// if another run holds it. Transient errors (network, HTTP 5xx and 408) are
// retried with exponential backoff for up to RetryFor; other errors are
// not, and HTTP 401, 403 and 429 end the whole run at once, since they
// would fail every edition alike.
//
// It installs files and runs a hook; it must not know the daemon:
// `enforcer geoip update` asks a running daemon to re-read its database
// over the admin API (POST /v1/geoip/reload).
package update

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailgate/enforcer/geoip"
)

// zeroMD5 is the local checksum of an edition that is not installed, as
// geoipupdate reports it; it never matches a real file.
const zeroMD5 = "00000000000000000000000000000000"

// EditionResult is the outcome of one edition.
type EditionResult struct {
	EditionID string
	Path      string // the installed file
	Changed   bool   // a new file was installed
	OldMD5    string // of the file before the run, zeroMD5 if there was none
	NewMD5    string // of the file after the run
	// BuildTime is the new file's build time; zero if unchanged.
	BuildTime time.Time
	// NoCountryData is set when the new file is a valid database that
	// enforcer cannot use (such as GeoLite2-ASN).
	NoCountryData bool
}

// Result is the outcome of a run: the editions that were brought up to
// date, in configuration order.
type Result struct {
	Editions []EditionResult
}

// Changed returns the editions whose file was replaced.
func (r Result) Changed() []EditionResult {
	var out []EditionResult
	for _, e := range r.Editions {
		if e.Changed {
			out = append(out, e)
		}
	}
	return out
}

// Updater runs updates for one configuration.
type Updater struct {
	cfg    *Config
	log    *slog.Logger
	client *client
	// Backoff between retries: starts at firstBackoff, doubles up to
	// maxBackoff, with ±20% jitter so that many gateways on the same cron
	// minute spread out. Tests shorten them.
	firstBackoff, maxBackoff time.Duration
}

// New returns an Updater for cfg that logs to log (nil: discard).
func New(cfg *Config, log *slog.Logger) *Updater {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Proxy != nil {
		tr.Proxy = http.ProxyURL(cfg.Proxy)
	}
	// No overall timeout: a City database over a slow link takes minutes.
	// Connecting and waiting for headers are bounded instead.
	tr.ResponseHeaderTimeout = time.Minute
	return &Updater{
		cfg: cfg,
		log: log,
		client: &client{
			http:       &http.Client{Transport: tr},
			host:       cfg.Host,
			accountID:  cfg.AccountID,
			licenseKey: cfg.LicenseKey,
		},
		firstBackoff: time.Second,
		maxBackoff:   time.Minute,
	}
}

// Run updates every edition. It returns the editions brought up to date
// and, if any failed, an error that joins their errors. An error that
// applies to all editions (lock held, bad credentials, rate limit) stops
// the run at once.
func (u *Updater) Run(ctx context.Context) (Result, error) {
	if err := os.MkdirAll(u.cfg.DatabaseDirectory, 0o755); err != nil {
		return Result{}, fmt.Errorf("create database directory: %w", err)
	}
	lock, err := acquireLock(u.cfg.LockFile)
	if err != nil {
		return Result{}, err
	}
	defer lock.release()
	u.log.Info("lock acquired", "lock_file", u.cfg.LockFile)

	var res Result
	var errs []error
	for _, edition := range u.cfg.EditionIDs {
		r, err := u.retry(ctx, edition)
		if err != nil {
			errs = append(errs, fmt.Errorf("update %s: %w", edition, err))
			if endsRun(err) || ctx.Err() != nil {
				break
			}
			continue
		}
		res.Editions = append(res.Editions, r)
	}
	return res, errors.Join(errs...)
}

// retry runs attempts at edition until one succeeds, fails permanently, or
// the next wait would end after RetryFor.
func (u *Updater) retry(ctx context.Context, edition string) (EditionResult, error) {
	start := time.Now()
	wait := u.firstBackoff
	for attempt := 1; ; attempt++ {
		r, err := u.attempt(ctx, edition)
		if err == nil || !isTransient(err) {
			return r, err
		}
		jittered := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		if time.Since(start)+jittered > u.cfg.RetryFor {
			if attempt > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts in %v; RetryFor is %v)",
					err, attempt, time.Since(start).Round(time.Millisecond), u.cfg.RetryFor)
			}
			return r, err
		}
		// Info, not Warn: a retry that then succeeds must not make cron
		// mail anyone. The final error, if any, is what matters.
		u.log.Info("transient error, retrying", "edition", edition, "attempt", attempt, "wait", jittered, "err", err)
		t := time.NewTimer(jittered)
		select {
		case <-ctx.Done():
			t.Stop()
			return r, fmt.Errorf("%w (interrupted while waiting to retry: %w)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, u.maxBackoff)
	}
}

// attempt checks and, if needed, installs edition once.
func (u *Updater) attempt(ctx context.Context, edition string) (EditionResult, error) {
	path := filepath.Join(u.cfg.DatabaseDirectory, edition+".mmdb")
	oldMD5, err := fileMD5(path)
	if err != nil {
		return EditionResult{}, err
	}
	res := EditionResult{EditionID: edition, Path: path, OldMD5: oldMD5, NewMD5: oldMD5}
	remote, err := u.client.metadata(ctx, edition)
	if err != nil {
		return res, err
	}
	if strings.EqualFold(remote.MD5, oldMD5) {
		u.log.Info("database is up to date", "edition", edition, "md5", oldMD5)
		return res, nil
	}
	u.log.Info("downloading", "edition", edition, "date", remote.Date, "old_md5", oldMD5, "new_md5", remote.MD5)
	inst, err := u.fetch(ctx, edition, path, remote)
	if err != nil {
		return res, err
	}
	res.Changed, res.NewMD5, res.BuildTime, res.NoCountryData = true, remote.MD5, inst.buildTime, inst.noCountry
	if inst.keptPrevious {
		u.log.Info("installed", "edition", edition, "path", path, "build_time", inst.buildTime, "previous", path+".prev")
	} else {
		u.log.Info("installed", "edition", edition, "path", path, "build_time", inst.buildTime)
	}
	return res, nil
}

type installed struct {
	buildTime    time.Time
	noCountry    bool
	keptPrevious bool // an older file is now path.prev
}

// fetch downloads remote into path's temporary file and installs it; on
// any error the temporary file is removed and path is untouched.
func (u *Updater) fetch(ctx context.Context, edition, path string, remote remoteDB) (inst installed, err error) {
	tmp := path + ".tmp"
	// The lock makes the fixed name safe, and a name that does not vary
	// means a run killed at the wrong moment leaves at most one stray file,
	// which the next run overwrites.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return installed{}, fmt.Errorf("create temporary file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := md5.New()
	lastModified, err := u.client.download(ctx, edition, remote.Date, io.MultiWriter(f, h))
	if err != nil {
		return installed{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != remote.MD5 {
		return installed{}, fmt.Errorf("downloaded %s has MD5 %s, the server's metadata says %s: the download is corrupt, nothing was installed", edition, got, remote.MD5)
	}
	if err := f.Sync(); err != nil {
		return installed{}, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return installed{}, fmt.Errorf("close %s: %w", tmp, err)
	}

	md, noCountry, err := check(tmp)
	if err != nil {
		return installed{}, fmt.Errorf("downloaded %s is not usable, nothing was installed: %w", edition, err)
	}
	if noCountry {
		u.log.Info("edition has no country data; installed, but enforcer does not use it", "edition", edition)
	}
	if cur, err := geoip.ReadMetadata(path); err == nil && md.BuildTime.Before(cur.BuildTime) {
		return installed{}, fmt.Errorf("the server offered %s built %s, older than the installed one built %s; kept the installed one",
			edition, md.BuildTime.Format(time.RFC3339), cur.BuildTime.Format(time.RFC3339))
	}
	if u.cfg.PreserveFileTimes && !lastModified.IsZero() {
		if err := os.Chtimes(tmp, lastModified, lastModified); err != nil {
			return installed{}, fmt.Errorf("set file time: %w", err)
		}
	}
	kept, err := keepPrevious(path)
	if err != nil {
		return installed{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return installed{}, fmt.Errorf("install %s: %w", path, err)
	}
	done = true
	if err := syncDir(filepath.Dir(path)); err != nil {
		return installed{}, err
	}
	return installed{buildTime: md.BuildTime, noCountry: noCountry, keptPrevious: kept}, nil
}

// check opens a downloaded database as enforcer will. A database without
// country data passes (the operator's GeoIP.conf may list GeoLite2-ASN for
// other programs) but is reported.
func check(path string) (geoip.Metadata, bool, error) {
	db, err := geoip.Open(path)
	if err == nil {
		md := db.Metadata()
		db.Close()
		return md, false, nil
	}
	var nc *geoip.NoCountryDataError
	if errors.As(err, &nc) {
		return nc.Metadata, true, nil
	}
	return geoip.Metadata{}, false, err
}

// keepPrevious makes path.prev a hard link to the installed file, so the
// rename that follows leaves the old release there for rollback. Without
// an installed file there is nothing to keep, and it returns false.
func keepPrevious(path string) (bool, error) {
	prev := path + ".prev"
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := os.Remove(prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove old %s: %w", prev, err)
	}
	if err := os.Link(path, prev); err != nil {
		// Some file systems have no hard links; a copy does as well.
		if cerr := copyFile(path, prev); cerr != nil {
			return false, fmt.Errorf("keep previous database as %s: %w", prev, errors.Join(err, cerr))
		}
	}
	return true, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(to)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncDir makes a rename in dir durable: without it a power cut can bring
// back the old directory entry, or none.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// fileMD5 returns the hex MD5 of the file at path, zeroMD5 if there is
// none. A damaged installed file just has a different MD5, so it is
// replaced like an old one.
func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return zeroMD5, nil
	}
	if err != nil {
		return "", fmt.Errorf("read installed database: %w", err)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read installed database %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
