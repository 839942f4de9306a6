package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
	"github.com/mailgate/enforcer/policy/explain"
	"github.com/mailgate/enforcer/policy/store"
)

// target is how a command finds the daemon: --config names the file whose
// admin.socket to use, --socket overrides it.
type target struct {
	fs             *pflag.FlagSet
	config, socket *string
}

func targetFlags(fs *pflag.FlagSet) target {
	return target{
		fs:     fs,
		config: fs.String("config", config.DefaultPath, "the configuration `FILE` (for admin.socket)"),
		socket: fs.String("socket", "", "the daemon's admin socket `PATH` (default: admin.socket of --config)"),
	}
}

// loadConfig reads --config. Only a default path that does not exist falls
// back to the built-in defaults: a file named on the command line, or one
// that exists but is broken, is an error, never silently replaced (a typo
// must not make `detach` tear down the default datapath).
func (t target) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(*t.config)
	if err == nil {
		return cfg, nil
	}
	if !t.fs.Changed("config") && errors.Is(err, os.ErrNotExist) {
		return &config.Config{StateDir: config.DefaultStateDir, BPFFSDir: config.DefaultBPFFSDir,
			Admin: config.Admin{Socket: config.DefaultAdminSocket}}, nil
	}
	return nil, err
}

// client finds the daemon: --socket, else admin.socket of the config.
func (t target) client() (*adminapi.Client, error) {
	if *t.socket != "" {
		return adminapi.NewClient(*t.socket), nil
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, fmt.Errorf("%w (or name the socket with --socket)", err)
	}
	return adminapi.NewClient(cfg.Admin.Socket), nil
}

// do sends one request to the daemon.
func (t target) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	c, err := t.client()
	if err != nil {
		return err
	}
	return c.Do(ctx, method, path, query, body, out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var reloadCommand = &command{
	name:  "reload",
	short: "re-read the configuration and GeoIP database in the running daemon",
	long: `Ask the daemon to re-read its configuration file and GeoIP database. The new
tables are switched in atomically; on any error the previous configuration
stays in force and the error is printed.`,
	examples: []example{{"Reload after editing the configuration", "enforcer reload"}},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if err := t.do(ctx, http.MethodPost, adminapi.PathReload, nil, nil, nil); err != nil {
				return fmt.Errorf("reload: %w", err)
			}
			fmt.Fprintln(e.stdout, "reloaded")
			return nil
		}
	},
}

var detachCommand = &command{
	name:  "detach",
	short: "remove the XDP program, its links and pinned maps",
	long: `Remove everything the datapath left in the kernel: the XDP links on every
interface, the pinned maps and the pin directory. Enforcement stops. Stop the
daemon first. The state directory (runtime changes) is kept.`,
	examples: []example{{"Stop enforcing", "systemctl stop enforcer && enforcer detach"}},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			cfg, err := t.loadConfig()
			if err != nil {
				return fmt.Errorf("detach: %w", err)
			}
			if err := t.do(ctx, http.MethodGet, adminapi.PathStatus, nil, nil, nil); err == nil {
				return errors.New("detach: the daemon is running; stop it first (systemctl stop enforcer), or it would run without its datapath")
			}
			pinDir := cfg.BPFFSDir
			if err := loader.Remove(pinDir); err != nil {
				return fmt.Errorf("detach: %w", err)
			}
			fmt.Fprintf(e.stdout, "detached: removed the XDP links and %s\n", pinDir)
			return nil
		}
	},
}

// listCommand builds `enforcer allow|deny|country add|remove|list`.
func listCommand(name, short, what, item, path string, needService bool, examples []example) *command {
	svcArg := ""
	if needService {
		svcArg = " --service imap"
	}
	sub := func(op, method, desc string) *command {
		usage := "ITEM..."
		if needService {
			usage += " --service NAME"
		}
		return &command{
			name:     op,
			short:    desc,
			usage:    usage,
			examples: []example{{desc, fmt.Sprintf("enforcer %s %s %s%s", name, op, item, svcArg)}},
			long:     desc + ". The change is saved in the state directory before the command returns and is in force in the datapath within a second.",
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				svc := fs.String("service", "", "the service `NAME` (see 'enforcer service list')")
				comment := fs.String("comment", "", "a note kept with the entries")
				var expires *string
				if name != "country" && op == "add" {
					expires = fs.String("expires", "", "remove the entries automatically after a `DURATION` (8h, 90m) or at an RFC 3339 time")
				}
				if !needService {
					fs.MarkHidden("service")
				}
				return func(ctx context.Context, e *env, args []string) error {
					if len(args) == 0 {
						return fmt.Errorf("%s %s: give at least one %s", name, op, what)
					}
					if needService && *svc == "" {
						return fmt.Errorf("%s %s: --service is required; see 'enforcer service list'", name, op)
					}
					req := adminapi.ListChange{Service: *svc, Items: args, Comment: *comment}
					if expires != nil {
						req.Expires = *expires
					}
					var res adminapi.ChangeResult
					err := t.do(ctx, method, path, nil, req, &res)
					if err != nil {
						return fmt.Errorf("%s %s: %w", name, op, err)
					}
					verb := map[string]string{http.MethodPost: "added", http.MethodDelete: "removed"}[method]
					fmt.Fprintf(e.stdout, "%s %d of %d (state revision %d)\n", verb, res.Changed, len(args), res.Revision)
					return nil
				}
			},
		}
	}
	list := &command{
		name:     "list",
		short:    "list the entries in force",
		usage:    "[--json]",
		examples: []example{{"Show the entries in force", fmt.Sprintf("enforcer %s list%s", name, svcArg)}},
		flags: func(fs *pflag.FlagSet) runFunc {
			t := targetFlags(fs)
			svc := fs.String("service", "", "the service `NAME`")
			asJSON := fs.Bool("json", false, "print JSON")
			if !needService {
				fs.MarkHidden("service")
			}
			return func(ctx context.Context, e *env, args []string) error {
				if needService && *svc == "" {
					return fmt.Errorf("%s list: --service is required; see 'enforcer service list'", name)
				}
				q := url.Values{}
				if *svc != "" {
					q.Set("service", *svc)
				}
				var out json.RawMessage
				if err := t.do(ctx, http.MethodGet, path, q, nil, &out); err != nil {
					return fmt.Errorf("%s list: %w", name, err)
				}
				if *asJSON {
					_, err := e.stdout.Write(append(out, '\n'))
					return err
				}
				if name == "country" {
					var cs []string
					json.Unmarshal(out, &cs)
					fmt.Fprintln(e.stdout, strings.Join(cs, " "))
					return nil
				}
				var es []adminapi.Entry
				if err := json.Unmarshal(out, &es); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CIDR\tSOURCE\tADDED\tEXPIRES\tCOMMENT")
				for _, en := range es {
					added := "-"
					if !en.Added.IsZero() {
						added = en.Added.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", en.CIDR, en.Source, added, expiry(en), en.Comment)
				}
				return tw.Flush()
			}
		},
	}
	return &command{
		name:     name,
		short:    short,
		examples: examples,
		sub: []*command{
			sub("add", http.MethodPost, "add "+what+"s"),
			sub("remove", http.MethodDelete, "remove "+what+"s added with 'add'"),
			list,
		},
	}
}

var allowCommand = listCommand("allow", "manage a service's CIDR allowlist", "CIDR", "203.0.113.0/28", adminapi.PathAllow, true, []example{
	{"Let the mobile gateway reach ActiveSync", "enforcer allow add 203.0.113.0/28 --service activesync --comment 'MEG cluster'"},
	{"Let a vendor in for a working day", "enforcer allow add 192.0.2.10-192.0.2.20 --service imap --expires 8h --comment 'vendor support'"},
	{"Show the allowlist", "enforcer allow list --service activesync"},
})

var denyCommand = listCommand("deny", "manage the deny list (applies to every protected service)", "CIDR", "198.51.100.66", adminapi.PathDeny, false, []example{
	{"Block a host", "enforcer deny add 198.51.100.66 --comment 'password spraying'"},
	{"Unblock it", "enforcer deny remove 198.51.100.66/32"},
})

var countryCommand = withSub(listCommand("country", "manage a geofenced service's allowed countries", "country code", "AT", adminapi.PathCountry, true, []example{
	{"Admit Austria to IMAP", "enforcer country add AT --service imap"},
	{"Show IMAP's countries", "enforcer country list --service imap"},
	{"Follow the config file's countries again", "enforcer country reset --service imap"},
}), countryResetCommand)

func withSub(c *command, sub ...*command) *command {
	c.sub = append(c.sub, sub...)
	return c
}

var countryResetCommand = &command{
	name:  "reset",
	short: "drop a service's runtime country changes: follow the config file again",
	usage: "--service NAME",
	long: `Drop every country change made at run time for a service: the countries added
with 'enforcer country add', and the removals of the config file's countries
that enforcer before 2026-12 recorded (they overrode later edits of the file;
'enforcer service show' lists them). The service's countries are then the
config file's. Saved before the command returns, in force within a second.`,
	examples: []example{{"IMAP's countries are the file's again", "enforcer country reset --service imap"}},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		svc := fs.String("service", "", "the service `NAME` (see 'enforcer service list')")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("country reset: unexpected argument %q; it resets every runtime country change of --service", args[0])
			}
			if *svc == "" {
				return errors.New("country reset: --service is required; see 'enforcer service list'")
			}
			var res adminapi.ChangeResult
			if err := t.do(ctx, http.MethodPost, adminapi.PathCountryReset, nil, adminapi.ListChange{Service: *svc}, &res); err != nil {
				return fmt.Errorf("country reset: %w", err)
			}
			fmt.Fprintf(e.stdout, "dropped %d runtime country changes of %s (state revision %d)\n", res.Changed, *svc, res.Revision)
			return nil
		}
	},
}

var serviceCommand = &command{
	name:  "service",
	short: "show the protected services",
	examples: []example{
		{"List the services", "enforcer service list"},
		{"Show one, with its allowlist", "enforcer service show imap --json"},
	},
	sub: []*command{
		{
			name: "list", short: "list the services", usage: "[--json]",
			examples: []example{{"List the services as JSON", "enforcer service list --json"}},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				asJSON := fs.Bool("json", false, "print JSON")
				return func(ctx context.Context, e *env, args []string) error {
					var vs []adminapi.ServiceView
					if err := t.do(ctx, http.MethodGet, adminapi.PathServices, nil, nil, &vs); err != nil {
						return fmt.Errorf("service list: %w", err)
					}
					if *asJSON {
						return printJSON(e.stdout, vs)
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tID\tPORTS\tGEOFENCED\tCOUNTRIES\tALLOW\tFROM\tRUNTIME CHANGES")
					for _, v := range vs {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%v\t%s\t%d\t%s\t%d\n", v.Name, v.ID, ports(v), v.Geofenced, cmp.Or(strings.Join(v.Countries, ","), "-"), len(v.Allow),
							cmp.Or(v.Derived, "file"), runtimeChanges(v))
					}
					return tw.Flush()
				}
			},
		},
		{
			name: "show", short: "show one service", usage: "NAME [--json]",
			examples: []example{{"Show IMAP with its allowlist", "enforcer service show imap"}},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				asJSON := fs.Bool("json", false, "print JSON")
				return func(ctx context.Context, e *env, args []string) error {
					if len(args) != 1 {
						return errors.New("service show: give one service name; see 'enforcer service list'")
					}
					var v adminapi.ServiceView
					if err := t.do(ctx, http.MethodGet, adminapi.PathServices+"/"+url.PathEscape(args[0]), nil, nil, &v); err != nil {
						return fmt.Errorf("service show: %w", err)
					}
					if *asJSON {
						return printJSON(e.stdout, v)
					}
					fmt.Fprintf(e.stdout, "service %s (id %d)\n", v.Name, v.ID)
					if v.Derived != "" {
						fmt.Fprintf(e.stdout, "  derived from %s: only its allowlist reaches the mail server around the proxy (proxy.upstream_allow, 'enforcer allow add --service %s')\n", v.Derived, v.Name)
					}
					fmt.Fprintf(e.stdout, "  ports: %s\n  geofenced: %v\n  countries: %s\n", ports(v), v.Geofenced, strings.Join(v.Countries, " "))
					if v.Admit == "all" {
						fmt.Fprintln(e.stdout, "  admit: all: every source not in the deny list (the allowlist has no effect)")
					}
					if len(v.CountriesAdded) > 0 {
						fmt.Fprintf(e.stdout, "    added at run time: %s ('enforcer country remove' takes them back)\n", strings.Join(v.CountriesAdded, " "))
					}
					if len(v.CountriesRemoved) > 0 {
						fmt.Fprintf(e.stdout, "    REMOVED AT RUN TIME, overriding the config file: %s ('enforcer country reset --service %s' follows the file again)\n", strings.Join(v.CountriesRemoved, " "), v.Name)
					}
					if len(v.Destinations) > 0 {
						fmt.Fprintf(e.stdout, "  destinations: %s\n", strings.Join(v.Destinations, " "))
					}
					fmt.Fprintln(e.stdout, "  allow:")
					for _, a := range v.Allow {
						exp := ""
						if !a.Expires.IsZero() {
							exp = ", expires " + expiry(a)
						}
						fmt.Fprintf(e.stdout, "    %s (%s%s) %s\n", a.CIDR, a.Source, exp, a.Comment)
					}
					return nil
				}
			},
		},
	},
}

// expiry shows when a runtime entry expires, with the time left: "in
// 7h59m58s (2026-12-04 20:00:00)"; "-" for a permanent one.
func expiry(en adminapi.Entry) string {
	if en.Expires.IsZero() {
		return "-"
	}
	return fmt.Sprintf("in %s (%s)", en.ExpiresIn, en.Expires.Local().Format(time.DateTime))
}

// runtimeChanges counts what the CLI changed on top of the file.
func runtimeChanges(v adminapi.ServiceView) int {
	n := len(v.CountriesAdded) + len(v.CountriesRemoved)
	for _, a := range v.Allow {
		if a.Source != "config" {
			n++
		}
	}
	return n
}

func ports(v adminapi.ServiceView) string {
	var ps []string
	for _, p := range v.Protocols {
		for _, n := range v.Ports {
			ps = append(ps, fmt.Sprintf("%s/%d", p, n))
		}
	}
	return strings.Join(ps, " ")
}

var statusCommand = &command{
	name: "status", short: "show the daemon, datapath and GeoIP state", usage: "[--json]",
	examples: []example{{"Is everything attached?", "enforcer status"}},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			var s adminapi.Status
			if err := t.do(ctx, http.MethodGet, adminapi.PathStatus, nil, nil, &s); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if *asJSON {
				return printJSON(e.stdout, s)
			}
			w := e.stdout
			fmt.Fprintf(w, "enforcer %s, up %s (config %s)\n", s.Version, s.Uptime, s.ConfigPath)
			fmt.Fprintf(w, "program: id %d %s, pinned in %s\n", s.Program.ID, s.Program.Name, s.PinDir)
			for _, i := range s.Interfaces {
				if i.Error != "" {
					fmt.Fprintf(w, "interface %s: NOT GUARDED: %s\n", i.Name, i.Error)
				} else {
					fmt.Fprintf(w, "interface %s: xdp %s\n", i.Name, i.Mode)
				}
			}
			if s.PinWarning != "" {
				fmt.Fprintf(w, "WARNING: %s\n", s.PinWarning)
			}
			fmt.Fprintf(w, "pinned links in %s: %d\n", s.PinDir, len(s.Links))
			for _, l := range s.Links {
				mode := cmp.Or(l.Mode, "-")
				fmt.Fprintf(w, "  %s: ifindex %d, xdp %s, program id %d", l.Interface, l.Ifindex, mode, l.ProgramID)
				if !l.InConfig {
					fmt.Fprint(w, ", NOT IN CONFIG")
				}
				if l.Note != "" {
					fmt.Fprintf(w, " (%s)", l.Note)
				}
				fmt.Fprintln(w)
			}
			if s.GeoIP.Error != "" {
				fmt.Fprintf(w, "geoip: none loaded (%s)\n", s.GeoIP.Error)
			} else {
				fmt.Fprintf(w, "geoip: %s %s, built %s (%s ago), %d networks\n", s.GeoIP.Path, s.GeoIP.Type, s.GeoIP.BuildTime.Format(time.DateOnly), s.GeoIP.Age, s.GeoIP.Networks)
			}
			fmt.Fprintf(w, "tables: %d services, %d allow, %d deny, %d country networks; source table %d cells (%.1f MiB), %d classes; state revision %d\n",
				s.Table.Services, s.Table.Allow, s.Table.Deny, s.Table.Countries, s.Table.Cells, float64(s.Table.Bytes)/(1<<20), s.Table.Classes, s.Revision)
			for _, sv := range s.Servers {
				if sv.Error != "" {
					fmt.Fprintf(w, "%s (%s): STOPPED: %s; restart the daemon\n", sv.Name, sv.Addr, sv.Error)
				}
			}
			if l := s.L7; l != nil {
				if l.Proxy {
					fmt.Fprintf(w, "proxy: %s -> %s, %d open connections, %d 451 mappings\n", l.Listen, l.Upstream, l.OpenConns, l.Redirects)
				} else {
					fmt.Fprintln(w, "proxy: not configured")
				}
				fmt.Fprintf(w, "devices: policy from %s, %d records, %d discovered", l.PolicySource, l.Records, l.Discovered)
				if l.Push != "" {
					fmt.Fprintf(w, ", push API on %s", l.Push)
				}
				if l.Pull != "" {
					fmt.Fprintf(w, ", pulling %s", l.Pull)
				}
				fmt.Fprintln(w)
			}
			return nil
		}
	},
}

var statsCommand = &command{
	name: "stats", short: "show packets and bytes by service, verdict and reason", usage: "[--service NAME] [--watch] [--json]",
	examples: []example{
		{"What was dropped and why", "enforcer stats"},
		{"Watch IMAP every 2 seconds", "enforcer stats --service imap --watch"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		svc := fs.String("service", "", "only this service `NAME`")
		watch := fs.Bool("watch", false, "print again every --interval until interrupted")
		interval := fs.Duration("interval", 2*time.Second, "the --watch `INTERVAL`")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			for {
				var s adminapi.Stats
				if err := t.do(ctx, http.MethodGet, adminapi.PathStats, nil, nil, &s); err != nil {
					return fmt.Errorf("stats: %w", err)
				}
				if *svc != "" {
					var rows []adminapi.StatsRow
					for _, r := range s.Rows {
						if r.Service == *svc {
							rows = append(rows, r)
						}
					}
					s.Rows = rows
				}
				if *asJSON {
					if err := printJSON(e.stdout, s); err != nil {
						return err
					}
				} else {
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
					fmt.Fprintln(tw, "SERVICE\tVERDICT\tREASON\tPACKETS\tBYTES\t")
					for _, r := range s.Rows {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t\n", r.Service, r.Verdict, r.Reason, r.Packets, r.Bytes)
					}
					tw.Flush()
					if len(s.Countries) > 0 {
						fmt.Fprint(e.stdout, "top dropped countries:")
						for i, c := range s.Countries {
							if i == 10 {
								break
							}
							fmt.Fprintf(e.stdout, " %s=%d", c.Country, c.Packets)
						}
						fmt.Fprintln(e.stdout)
					}
				}
				if !*watch {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(*interval):
					fmt.Fprintln(e.stdout)
				}
			}
		}
	},
}

var checkCommand = &command{
	name:  "check",
	short: "explain the verdict for a source address",
	usage: "IP (--service NAME | --port N [--proto tcp|udp]) [--offline --db FILE]",
	long: `Print the verdict the datapath gives packets from IP to a service, and the
rule that decides it, from the same reference model the datapath is tested
against. With a running daemon it asks the daemon (config + runtime changes +
loaded GeoIP database); with --offline it reads --config, the state directory
and --db itself.`,
	examples: []example{
		{"Would this address reach IMAP?", "enforcer check 198.51.100.7 --service imap"},
		{"Without a daemon", "enforcer check 198.51.100.7 --port 993 --offline --db ./GeoLite2-Country.mmdb"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		svc := fs.String("service", "", "the service `NAME`")
		port := fs.String("port", "", "the destination `PORT`")
		proto := fs.String("proto", "tcp", "the `PROTOCOL` with --port: tcp or udp")
		offline := fs.Bool("offline", false, "do not ask the daemon: read --config, its state directory and --db")
		db := fs.String("db", "", "the GeoIP database `FILE` with --offline (default: geoip.database of --config)")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return errors.New("check: give one IP address, e.g. enforcer check 192.0.2.7 --service imap")
			}
			var res adminapi.CheckResult
			var err error
			if *offline {
				res, err = checkOffline(*t.config, *db, explain.Query{IP: args[0], Service: *svc, Port: *port, Proto: *proto})
			} else {
				q := url.Values{"ip": {args[0]}, "service": {*svc}, "port": {*port}, "proto": {*proto}}
				err = t.do(ctx, http.MethodGet, adminapi.PathCheck, q, nil, &res)
			}
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			if *asJSON {
				return printJSON(e.stdout, res)
			}
			svcName := res.Service
			if svcName == "" {
				svcName = "-"
			}
			fmt.Fprintf(e.stdout, "%s -> %s/%d (service %s): %s, %s\n  %s\n", res.IP, res.Proto, res.Port, svcName, strings.ToUpper(res.Verdict), res.Reason, res.Rule)
			return nil
		}
	},
}

// checkOffline composes the policy as the daemon would, without one, and
// explains the verdict.
func checkOffline(cfgPath, dbPath string, q explain.Query) (explain.Result, error) {
	cfg, err := config.LoadDerived(context.Background(), cfgPath)
	if err != nil {
		return explain.Result{}, err
	}
	if dbPath == "" {
		dbPath = cfg.GeoIP.Database
	}
	db, err := geoip.Open(dbPath)
	if err != nil {
		return explain.Result{}, fmt.Errorf("%w; name a database with --db", err)
	}
	defer db.Close()
	res, err := offlinePolicy(cfg, db)
	if err != nil {
		return explain.Result{}, err
	}
	return explain.Check(res.Policy, res.Model, q)
}

// offlinePolicy is the policy the daemon would enforce for cfg and db,
// with the state directory's runtime changes when it can be read (a
// running daemon holds it: then they are left out, with a warning). It
// only reads: the service ids compose assigns are not stored.
func offlinePolicy(cfg *config.Config, db *geoip.DB) (compose.Result, error) {
	in := cfg.PolicyInput()
	var err error
	if in.Networks, err = db.CountryTable(); err != nil {
		return compose.Result{}, err
	}
	// Read the state only where it exists: looking must not create it.
	if _, err := os.Stat(filepath.Join(cfg.StateDir, store.FileName)); err != nil {
		// no runtime changes yet
	} else if st, err := store.Open(cfg.StateDir, store.WithLockTimeout(100*time.Millisecond)); err == nil {
		in.State, err = st.Snapshot()
		st.Close()
		if err != nil {
			return compose.Result{}, err
		}
	} else {
		fmt.Fprintf(os.Stderr, "enforcer: runtime changes not included: %v\n", err)
	}
	return compose.Compose(in)
}

// admittingServices lists, per address, the services of the configuration
// at cfgPath whose verdict for it is pass.
func admittingServices(cfgPath string, db *geoip.DB, ips []netip.Addr) ([][]string, error) {
	cfg, err := config.LoadDerived(context.Background(), cfgPath)
	if err != nil {
		return nil, err
	}
	res, err := offlinePolicy(cfg, db)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(ips))
	for i, ip := range ips {
		for _, s := range res.Policy.Services {
			r, err := explain.Check(res.Policy, res.Model, explain.Query{IP: ip.String(), Service: s.Name})
			if err != nil {
				return nil, err
			}
			if r.Verdict == policy.Pass.String() {
				out[i] = append(out[i], s.Name)
			}
		}
	}
	return out, nil
}
