package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/update"
)

// defaultDB is the database `geoip lookup` reads without --db: where
// `geoip update` installs GeoLite2-Country with its default directory.
var defaultDB = filepath.Join(update.DefaultDatabaseDirectory, "GeoLite2-Country.mmdb")

// defaultConfigFile is geoipupdate's usual GeoIP.conf.
const defaultConfigFile = "/etc/GeoIP.conf"

var geoipCommand = &command{
	name:  "geoip",
	short: "look up and update the GeoIP country databases",
	long: `The country allowlists are judged with a MaxMind DB (.mmdb) file: GeoLite2 or
GeoIP2 Country or City, or a database with a flat country_code field
(DB-IP Lite, ip-location-db).`,
	examples: []example{
		{"Where is this address?", "enforcer geoip lookup 192.0.2.1"},
		{"Update the databases listed in /etc/GeoIP.conf", "enforcer geoip update"},
	},
	sub: []*command{geoipLookupCommand, geoipUpdateCommand},
}

var geoipLookupCommand = &command{
	name:  "lookup",
	short: "print the country of IP addresses",
	usage: "[--db FILE] [--json] IP...",
	long: `Print, for each address, its country, the record field the country came from
(country, registered_country, country_code, or none) and the database network
that holds the address. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is
judged as the IPv4 address, as the datapath judges it.`,
	examples: []example{
		{"Look up two addresses in the installed database", "enforcer geoip lookup 192.0.2.1 2001:db8::1"},
		{"Use another database and print JSON", "enforcer geoip lookup --db ./dbip-country-lite.mmdb --json 198.51.100.7"},
		{"Which services would let it in?", "enforcer geoip lookup --config /etc/enforcer/enforcer.yaml 198.51.100.7"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		db := fs.String("db", defaultDB, "the MaxMind DB `FILE` to read")
		asJSON := fs.Bool("json", false, "print a JSON array of {ip, country, source, network[, services]}")
		cfg := fs.String("config", "", "also say which services of this configuration `FILE` (with its runtime changes) admit each address")
		return func(ctx context.Context, e *env, args []string) error {
			return geoipLookup(e, *db, *cfg, *asJSON, args)
		}
	},
}

// lookupJSON is one element of `geoip lookup --json`.
type lookupJSON struct {
	IP      string       `json:"ip"`
	Country string       `json:"country"` // "" when none
	Source  geoip.Source `json:"source"`
	Network string       `json:"network"`
	// Services admitting the address, with --config (null without).
	Services []string `json:"services,omitempty"`
}

func geoipLookup(e *env, dbPath, cfgPath string, asJSON bool, args []string) error {
	if len(args) == 0 {
		return errors.New("geoip lookup: no IP address given; run 'enforcer geoip lookup --help'")
	}
	// Parse every argument before opening the database, so a typo costs
	// nothing and prints nothing half-done.
	ips := make([]netip.Addr, len(args))
	for i, a := range args {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("geoip lookup: argument %d, %q, is not an IP address; give addresses such as 192.0.2.1 or 2001:db8::1", i+1, a)
		}
		ips[i] = ip
	}
	db, err := geoip.Open(dbPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("geoip lookup: %w; install it with 'enforcer geoip update' or name another file with --db", err)
		}
		return fmt.Errorf("geoip lookup: %w", err)
	}
	defer db.Close()
	results := make([]geoip.Result, len(ips))
	for i, ip := range ips {
		if results[i], err = db.Lookup(ip); err != nil {
			return fmt.Errorf("geoip lookup: %w", err)
		}
	}
	var admits [][]string
	if cfgPath != "" {
		if admits, err = admittingServices(cfgPath, db, ips); err != nil {
			return fmt.Errorf("geoip lookup: %w", err)
		}
	}
	if asJSON {
		out := make([]lookupJSON, len(results))
		for i, r := range results {
			out[i] = lookupJSON{IP: r.IP.String(), Country: r.Country, Source: r.Source, Network: r.Network.String()}
			if admits != nil {
				out[i].Services = append([]string{}, admits[i]...)
			}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	header := "IP\tCOUNTRY\tSOURCE\tNETWORK"
	if admits != nil {
		header += "\tADMITTED BY"
	}
	fmt.Fprintln(tw, header)
	for i, r := range results {
		country := r.Country
		if country == "" {
			country = "-"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s", r.IP, country, r.Source, r.Network)
		if admits != nil {
			svcs := strings.Join(admits[i], ",")
			if svcs == "" {
				svcs = "(none)"
			}
			line += "\t" + svcs
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

var geoipUpdateCommand = &command{
	name:  "update",
	short: "download new GeoIP databases (GeoIP.conf compatible)",
	usage: "[flags]",
	long: `Update the databases listed in EditionIDs from MaxMind, as MaxMind's geoipupdate
does and with the same configuration: GeoIP.conf (AccountID, LicenseKey,
EditionIDs, DatabaseDirectory, Host, Proxy, ProxyUserPassword, LockFile,
RetryFor, PreserveFileTimes, Parallelism) and the GEOIPUPDATE_* environment
variables, which override the file; flags override both. The config file
defaults to $GEOIPUPDATE_CONF_FILE, else /etc/GeoIP.conf if it exists.
DatabaseDirectory defaults to /var/lib/enforcer.

Unchanged databases are not downloaded (their MD5 matches the server's). A new
one is installed only after its MD5 matches, it opens, and it is not older
than the installed one; the previous file is kept as NAME.mmdb.prev for
rollback (rename it back, then reload). A second run while one holds the
lock fails at once.

When a database changed, a running enforcer daemon is told to reload its
GeoIP database over its admin socket (--socket, else admin.socket of
--config): only the database, not the config file, so a half-edited
enforcer.yaml does not hold the update back. No daemon running is fine, a
daemon that refuses the new database is an error (it keeps the database it
had). --no-reload leaves the daemon alone.

Exit status: 0 on success, 1 on error, and --unchanged-exit-code (if set)
when the run succeeded without changing any database, so that cron can act
on real changes only.`,
	examples: []example{
		{"Update with /etc/GeoIP.conf, silent unless something fails (for cron)", "enforcer geoip update"},
		{"Use another file and directory, and say what happens", "enforcer geoip update -f /etc/enforcer/GeoIP.conf -d /var/lib/enforcer -v"},
		{"Run a command of your own when a database changed", "enforcer geoip update --post-update-command 'logger geoip updated'"},
		{"Let a script tell changes (0) from no change (3) and errors (1)", "enforcer geoip update --unchanged-exit-code 3"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		var o updateOptions
		fs.StringVarP(&o.configFile, "config-file", "f", "", "GeoIP.conf `FILE` (default $GEOIPUPDATE_CONF_FILE, else "+defaultConfigFile+" if it exists)")
		fs.StringVarP(&o.databaseDirectory, "database-directory", "d", "", "install databases in `DIR`, over DatabaseDirectory and GEOIPUPDATE_DB_DIR")
		fs.BoolVarP(&o.verbose, "verbose", "v", false, "log each step to stderr")
		fs.IntVar(&o.unchangedExitCode, "unchanged-exit-code", 0, "exit with `CODE` (2-125) when nothing changed; 0 keeps the usual 0")
		fs.StringVar(&o.postUpdateCommand, "post-update-command", "", "run `CMD` with /bin/sh -c after a database changed")
		fs.BoolVar(&o.noReload, "no-reload", false, "do not ask a running enforcer daemon to reload after a database changed")
		o.daemon = targetFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			o.configFileSet = fs.Changed("config-file")
			if len(args) > 0 {
				return fmt.Errorf("geoip update: unexpected argument %q; editions come from EditionIDs in GeoIP.conf or GEOIPUPDATE_EDITION_IDS", args[0])
			}
			return geoipUpdate(ctx, e, o)
		}
	},
}

type updateOptions struct {
	configFile        string
	configFileSet     bool
	databaseDirectory string
	verbose           bool
	unchangedExitCode int
	postUpdateCommand string
	noReload          bool
	daemon            target
}

func geoipUpdate(ctx context.Context, e *env, o updateOptions) error {
	if c := o.unchangedExitCode; c != 0 && (c < 2 || c > 125) {
		return fmt.Errorf("geoip update: --unchanged-exit-code %d: use 0 or a code from 2 to 125 (1 means error, above 125 the shell's own)", c)
	}
	path := o.configFile
	if !o.configFileSet {
		// As geoipupdate: the default file is used only if it exists, so the
		// environment alone can configure a run.
		path = defaultConfigFile
		if v, ok := e.lookupEnv("GEOIPUPDATE_CONF_FILE"); ok {
			path = v
		} else if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = ""
		}
	}
	cfg, err := update.LoadConfig(path, e.lookupEnv, update.Overrides{DatabaseDirectory: o.databaseDirectory, Verbose: o.verbose})
	if err != nil {
		return fmt.Errorf("geoip update: %w", err)
	}
	level := slog.LevelWarn
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Verbose {
		log.Info("configuration", "config_file", path, "database_directory", cfg.DatabaseDirectory, "editions", cfg.EditionIDs, "host", cfg.Host)
	}
	res, runErr := update.New(cfg, log).Run(ctx)
	changed := res.Changed()
	if len(changed) > 0 && o.postUpdateCommand != "" {
		// Installed files are live even if another edition failed: reload.
		if err := update.RunHook(ctx, o.postUpdateCommand, changed, e.stdout, e.stderr); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if len(changed) > 0 && !o.noReload {
		if err := reloadAfterUpdate(ctx, o.daemon, log); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if runErr != nil {
		return fmt.Errorf("geoip update: %w", runErr)
	}
	if len(changed) == 0 && o.unchangedExitCode != 0 {
		return exitCode(o.unchangedExitCode)
	}
	return nil
}

// reloadAfterUpdate asks a running daemon to re-read its database after
// one changed. No daemon is not an error (the next start reads the new
// file); a daemon that refuses the new database keeps the one it has, and
// the run fails so that cron reports it.
func reloadAfterUpdate(ctx context.Context, t target, log *slog.Logger) error {
	// Only the database: the config file may be half-edited right now.
	err := t.do(ctx, http.MethodPost, adminapi.PathGeoIPReload, nil, nil, nil)
	switch {
	case err == nil:
		log.Info("the enforcer daemon reloaded")
		return nil
	case errors.Is(err, adminapi.ErrNotRunning):
		log.Info("no enforcer daemon running: nothing to reload", "detail", err)
		return nil
	}
	return fmt.Errorf("the databases were installed, but the daemon did not reload (it keeps the database it had): %w; fix it, then run `enforcer reload`", err)
}
