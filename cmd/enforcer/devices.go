package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
)

// The device commands: what the gateway knows of devices, and the
// administrator's overrides.
var deviceCommand = &command{
	name:  "device",
	short: "device records, discovered devices and overrides (the L7 gateway)",
	long: `Devices are known from device management (records pushed or pulled, or
imported from CSV) and from their requests (discovered). An administrator
override decides before any policy: allow (whitelist), block (blacklist) or
quarantine; 'default' removes the administrator's override, and the device
follows device management's override and the policy again. Overrides are
kept in the state directory and survive restarts and later syncs.`,
	examples: []example{
		{"Devices of one user", "enforcer device list --user 'jane@example.com'"},
		{"Why a device is blocked", "enforcer device show ApplF17XK2"},
		{"Let a device sync whatever the policy says", "enforcer device allow ApplF17XK2"},
		{"Hold a device until someone looks at it", "enforcer device quarantine androidc1234"},
		{"Back to the policy", "enforcer device default ApplF17XK2"},
		{"Load records from CSV", "enforcer device import devices.csv"},
	},
	sub: []*command{deviceListCommand, deviceShowCommand,
		overrideCommand("allow", "whitelist", "let devices sync whatever the policy says (whitelist)"),
		overrideCommand("block", "blacklist", "block devices whatever the policy says (blacklist)"),
		overrideCommand("quarantine", "quarantine", "hold devices in quarantine"),
		overrideCommand("default", "default", "remove the administrator's override"),
		deviceImportCommand, deviceExportCommand, deviceKeyCommand},
}

var deviceKeyCommand = &command{
	name: "key", short: "the attachment key of a device and user, for the managed content app", usage: "DEVICE-ID --user U [--json]",
	long: `Encrypted attachments (transforms.attachments, action encrypt) are sealed with
a key unique to the device and user, derived from the master secret in the
state directory. The managed content app needs it to open them; the format
is l7/transform/attach/FORMAT.md. The key is printed in base64: treat it as
a secret. Each look-up is logged (with the key id, never the key).`,
	examples: []example{{"Key for Jane's phone", "enforcer device key ApplF17XK2 --user jane@example.com"}},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		user := fs.String("user", "", "the `USER` the device syncs as")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 || *user == "" {
				return errors.New("device key: give one device id and --user")
			}
			var k adminapi.AttachmentKey
			if err := t.do(ctx, http.MethodGet, adminapi.PathAttachmentKey, url.Values{"device_id": {args[0]}, "user": {*user}}, nil, &k); err != nil {
				return fmt.Errorf("device key: %w", err)
			}
			if *asJSON {
				return printJSON(e.stdout, k)
			}
			fmt.Fprintf(e.stdout, "%s\n", k.Key)
			return nil
		}
	},
}

var deviceListCommand = &command{
	name: "list", short: "list devices (records and discovered), filtered", usage: "[--user U] [--type T] [--client C] [--override O] [--json]",
	long: `Filters match without regard to case; a filter without '*' or '?' matches
any value that contains it.`,
	examples: []example{
		{"Android devices", "enforcer device list --type 'android*'"},
		{"Blacklisted devices", "enforcer device list --override blacklist"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		user := fs.String("user", "", "only devices of this `USER`")
		typ := fs.String("type", "", "only this EAS device `TYPE`")
		client := fs.String("client", "", "only this mail client (User-Agent) `PATTERN`")
		over := fs.String("override", "", "only devices with this override (default, whitelist, blacklist, quarantine)")
		limit := fs.Int("limit", 1000, "at most `N` devices")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("device list: unexpected argument %q; filter with --user, --type, --client", args[0])
			}
			q := url.Values{"limit": {fmt.Sprint(*limit)}}
			for k, v := range map[string]string{"user": *user, "type": *typ, "client": *client, "override": *over} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var vs []adminapi.DeviceView
			if err := t.do(ctx, http.MethodGet, adminapi.PathDevices, q, nil, &vs); err != nil {
				return fmt.Errorf("device list: %w", err)
			}
			if *asJSON {
				return printJSON(e.stdout, vs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tUSER\tTYPE\tRECORD\tOVERRIDE\tDECISION\tREASON\tLAST SEEN")
			for _, v := range vs {
				rec := "-"
				if v.HasRecord {
					rec = "managed"
					if !v.Managed {
						rec = "unmanaged"
					}
				}
				over := v.Override
				if v.AdminSet {
					over += " (admin)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.DeviceID, dash(v.User), dash(v.DeviceType), rec, over, v.Decision.Action, v.Decision.Reason, ago(v.LastSeen))
			}
			return tw.Flush()
		}
	},
}

var deviceShowCommand = &command{
	name: "show", short: "show one device: record, requests and decision", usage: "DEVICE-ID [--json]",
	examples: []example{{"Why a device is blocked", "enforcer device show ApplF17XK2"}},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return errors.New("device show: give one device id; see 'enforcer device list'")
			}
			var v adminapi.DeviceView
			if err := t.do(ctx, http.MethodGet, devicePath(args[0]), nil, nil, &v); err != nil {
				return fmt.Errorf("device show: %w", err)
			}
			if *asJSON {
				return printJSON(e.stdout, v)
			}
			printDevice(e.stdout, v)
			return nil
		}
	},
}

func devicePath(id string) string {
	return strings.Replace(adminapi.PathDevice, "{id}", url.PathEscape(id), 1)
}

func printDevice(w io.Writer, v adminapi.DeviceView) {
	fmt.Fprintf(w, "device %s\n  user: %s\n", v.DeviceID, dash(v.User))
	d := v.Decision
	fmt.Fprintf(w, "  decision: %s (%s", d.Action, d.Reason)
	if d.Rule != "" {
		fmt.Fprintf(w, ", %s", d.Rule)
	}
	fmt.Fprintln(w, ")")
	if d.TestMode {
		fmt.Fprintf(w, "  test mode: the policy says %s, the request is let through\n", d.Intended)
	}
	over := v.Override
	if v.AdminSet {
		over += " (set by an administrator)"
	}
	fmt.Fprintf(w, "  override: %s\n", over)
	if v.HasRecord {
		fmt.Fprintf(w, "  record: managed=%v compromised=%s encrypted=%s eas_profile=%v\n", v.Managed, dash(v.Compromised), dash(v.Encrypted), v.EASProfile)
		fmt.Fprintf(w, "          platform=%s model=%s os=%s last_check_in=%s updated=%s\n", dash(v.Platform), dash(v.Model), dash(v.OSVersion), stamp(v.LastCheckIn), stamp(v.Updated))
	} else {
		fmt.Fprintln(w, "  record: none (device management has not reported this device)")
	}
	if v.Seen {
		fmt.Fprintf(w, "  seen: type=%s client=%q last_command=%s from=%s first=%s last=%s requests=%d\n",
			dash(v.DeviceType), v.UserAgent, dash(v.LastCommand), dash(v.SourceIP), stamp(v.FirstSeen), stamp(v.LastSeen), v.Requests)
	}
}

func overrideCommand(name, override, short string) *command {
	return &command{
		name: name, short: short, usage: "DEVICE-ID...",
		examples: []example{{short, "enforcer device " + name + " ApplF17XK2"}},
		flags: func(fs *pflag.FlagSet) runFunc {
			t := targetFlags(fs)
			return func(ctx context.Context, e *env, args []string) error {
				if len(args) == 0 {
					return fmt.Errorf("device %s: give at least one device id", name)
				}
				for _, id := range args {
					var v adminapi.DeviceView
					path := strings.Replace(adminapi.PathOverride, "{id}", url.PathEscape(id), 1)
					if err := t.do(ctx, http.MethodPost, path, nil, adminapi.OverrideChange{Override: override}, &v); err != nil {
						return fmt.Errorf("device %s %s: %w", name, id, err)
					}
					fmt.Fprintf(e.stdout, "%s: override %s, decision %s (%s)\n", v.DeviceID, v.Override, v.Decision.Action, v.Decision.Reason)
				}
				return nil
			}
		},
	}
}

var deviceImportCommand = &command{
	name: "import", short: "add or update device records from a CSV file", usage: "FILE|-",
	examples: []example{{"Load records exported from device management", "enforcer device import devices.csv"}},
	long: `The columns are those of 'enforcer device export' (device_id is required;
see the README). Every row is checked before any is applied; a problem is
reported as FILE:LINE: column: what is wrong, and nothing changes.`,
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return errors.New("device import: give one CSV file (or - for standard input)")
			}
			var in io.Reader = e.stdin
			name := "stdin"
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("device import: %w", err)
				}
				defer f.Close()
				in, name = f, args[0]
			}
			c, err := t.client()
			if err != nil {
				return fmt.Errorf("device import: %w", err)
			}
			out, err := c.Raw(ctx, http.MethodPost, adminapi.PathImport, url.Values{"name": {name}}, in, "text/csv")
			if err != nil {
				return fmt.Errorf("device import: %w", err)
			}
			_, err = e.stdout.Write(out)
			return err
		}
	},
}

var deviceExportCommand = &command{
	name: "export", short: "write device records, discovered devices, accounts, attachment policies or 451 mappings as CSV", usage: "[devices|discovered|accounts|attachments|redirects]",
	examples: []example{
		{"Back up the device records", "enforcer device export > devices.csv"},
		{"The 451 redirect mappings", "enforcer device export redirects"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		t := targetFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			what := "devices"
			if len(args) == 1 {
				what = args[0]
			} else if len(args) > 1 {
				return errors.New("device export: give at most one of devices, discovered, accounts, attachments, redirects")
			}
			c, err := t.client()
			if err != nil {
				return fmt.Errorf("device export: %w", err)
			}
			out, err := c.Raw(ctx, http.MethodGet, strings.Replace(adminapi.PathExport, "{name}", what+".csv", 1), nil, nil, "text/csv")
			if err != nil {
				return fmt.Errorf("device export: %w", err)
			}
			_, err = e.stdout.Write(out)
			return err
		}
	},
}

// The policy commands: the device compliance policy in force.
var policyCommand = &command{
	name:  "policy",
	short: "the device compliance policy in force, and what it decides",
	examples: []example{
		{"Where the policy comes from, and what it says", "enforcer policy show"},
		{"Would this client sync?", "enforcer policy check --user jane@example.com --type Android --agent 'Outlook-iOS-Android/1.0'"},
	},
	sub: []*command{
		{
			name: "show", short: "show the device policy in force and where it comes from", usage: "[--json]",
			examples: []example{{"The policy as YAML", "enforcer policy show"}},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				asJSON := fs.Bool("json", false, "print JSON")
				return func(ctx context.Context, e *env, args []string) error {
					var v adminapi.PolicyView
					if err := t.do(ctx, http.MethodGet, adminapi.PathPolicy, nil, nil, &v); err != nil {
						return fmt.Errorf("policy show: %w", err)
					}
					if *asJSON {
						return printJSON(e.stdout, v)
					}
					fmt.Fprintf(e.stdout, "source: %s\nrevision: %s\ntest mode: %v\nrecords: %d\ndiscovered: %d\n", v.Source, dash(v.Revision), v.TestMode, v.Records, v.Discovered)
					if v.Source == "none" {
						if v.AllowMailIfNoPolicy {
							fmt.Fprintln(e.stdout, "no policy loaded: every device syncs (devices.allow_mail_if_no_policy)")
						} else {
							fmt.Fprintln(e.stdout, "no policy loaded: every ActiveSync request is refused (503) until one arrives")
						}
					}
					if v.SyncedRevision != "" {
						fmt.Fprintf(e.stdout, "a policy from device management (revision %s) is stored but not used: devices.policy in the file wins\n", v.SyncedRevision)
					}
					if v.YAML != "" {
						fmt.Fprintf(e.stdout, "policy:\n%s", indent(v.YAML, "  "))
					}
					if v.Transforms != "" {
						fmt.Fprintf(e.stdout, "transforms (from %s):\n%s", v.TransformsSource, indent(v.Transforms, "  "))
					} else {
						fmt.Fprintln(e.stdout, "transforms: off (mail passes untouched)")
					}
					return nil
				}
			},
		},
		{
			name: "check", short: "what the policy decides for a device", usage: "[--device ID] [--user U] [--type T] [--agent UA] [--model M] [--os OS]",
			examples: []example{
				{"Would this iPhone sync?", "enforcer policy check --user jane@example.com --type iPhone --agent 'Apple-iPhone15C2/2104.84'"},
				{"A known device", "enforcer policy check --device ApplF17XK2 --user jane@example.com"},
			},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				q := map[string]*string{
					"device_id": fs.String("device", "", "EAS device `ID` (its record is used)"),
					"user":      fs.String("user", "", "`USER` as the device sends it"),
					"type":      fs.String("type", "", "EAS device `TYPE`"),
					"agent":     fs.String("agent", "", "`USER-AGENT` (the mail client)"),
					"model":     fs.String("model", "", "device `MODEL` as the device reports it over EAS"),
					"os":        fs.String("os", "", "device `OS` as the device reports it over EAS"),
				}
				asJSON := fs.Bool("json", false, "print JSON")
				return func(ctx context.Context, e *env, args []string) error {
					vals := url.Values{}
					for k, v := range q {
						if *v != "" {
							vals.Set(k, *v)
						}
					}
					var v struct {
						Identity  map[string]string     `json:"identity"`
						HasRecord bool                  `json:"has_record"`
						Decision  adminapi.DecisionView `json:"decision"`
					}
					if err := t.do(ctx, http.MethodGet, adminapi.PathPolicyCheck, vals, nil, &v); err != nil {
						return fmt.Errorf("policy check: %w", err)
					}
					if *asJSON {
						return printJSON(e.stdout, v)
					}
					fmt.Fprintf(e.stdout, "%s (%s)", v.Decision.Action, v.Decision.Reason)
					if v.Decision.Rule != "" {
						fmt.Fprintf(e.stdout, " by %s", v.Decision.Rule)
					}
					fmt.Fprintln(e.stdout)
					if v.Decision.TestMode {
						fmt.Fprintf(e.stdout, "test mode: the policy says %s; the request would be let through\n", v.Decision.Intended)
					}
					return nil
				}
			},
		},
	},
}

// The log commands: run-time level and targeted verbose logging.
var logCommand = &command{
	name:  "log",
	short: "run-time log level and verbose logging for chosen users or devices",
	examples: []example{
		{"More detail for a while", "enforcer log level debug"},
		{"Every request of one user, in detail", "enforcer log verbose --user jane@example.com"},
	},
	long: `Changes last until the daemon restarts or reloads (a reload restores log.level
from the file; verbose targets stay).`,
	sub: []*command{
		{
			name: "show", short: "show the log level and the verbose targets", usage: "[--json]",
			examples: []example{{"What is logged now", "enforcer log show"}},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				asJSON := fs.Bool("json", false, "print JSON")
				return func(ctx context.Context, e *env, args []string) error {
					return logChange(ctx, e, t, nil, *asJSON)
				}
			},
		},
		{
			name: "level", short: "set the log level", usage: "debug|info|warn|error",
			examples: []example{{"Back to normal", "enforcer log level info"}},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				return func(ctx context.Context, e *env, args []string) error {
					if len(args) != 1 {
						return errors.New("log level: give one of debug, info, warn, error")
					}
					return logChange(ctx, e, t, &adminapi.LogChange{Level: args[0]}, false)
				}
			},
		},
		{
			name: "verbose", short: "log every request of these users or devices in detail", usage: "[--user U]... [--device ID]... [--off] [--clear]",
			examples: []example{
				{"Follow one user's requests", "enforcer log verbose --user jane@example.com"},
				{"Stop", "enforcer log verbose --off --user jane@example.com"},
			},
			flags: func(fs *pflag.FlagSet) runFunc {
				t := targetFlags(fs)
				users := fs.StringArray("user", nil, "a `USER` to follow (repeatable)")
				devices := fs.StringArray("device", nil, "a device `ID` to follow (repeatable)")
				off := fs.Bool("off", false, "stop following the given users and devices")
				clear := fs.Bool("clear", false, "stop following everyone")
				return func(ctx context.Context, e *env, args []string) error {
					if len(*users)+len(*devices) == 0 && !*clear {
						return errors.New("log verbose: give --user or --device (or --clear)")
					}
					ch := adminapi.LogChange{Clear: *clear}
					if *off {
						ch.RemoveUsers, ch.RemoveDevices = *users, *devices
					} else {
						ch.AddUsers, ch.AddDevices = *users, *devices
					}
					return logChange(ctx, e, t, &ch, false)
				}
			},
		},
	},
}

func logChange(ctx context.Context, e *env, t target, ch *adminapi.LogChange, asJSON bool) error {
	var s adminapi.LogSettings
	method := http.MethodGet
	if ch != nil {
		method = http.MethodPut
	}
	var body any
	if ch != nil {
		body = ch
	}
	if err := t.do(ctx, method, adminapi.PathLog, nil, body, &s); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if asJSON {
		return printJSON(e.stdout, s)
	}
	fmt.Fprintf(e.stdout, "level: %s\nverbose users: %s\nverbose devices: %s\n", s.Level, list(s.Users), list(s.Devices))
	return nil
}

func list(ss []string) string {
	if len(ss) == 0 {
		return "-"
	}
	return strings.Join(ss, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func ago(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(pre + l)
		}
	}
	return b.String()
}
