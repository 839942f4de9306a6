package main

// This is the one file of the CLI that links the daemon in: every other
// command reaches it through the admin API's client (cmd/enforcer/adminapi).
// test/layout checks that.

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/cmd/enforcer/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

var runDaemonCommand = &command{
	name:  "run",
	short: "run the daemon (systemd runs this)",
	usage: "[--config FILE] [--check]",
	long: `Load or re-use the pinned XDP datapath, apply the configuration, the runtime
changes in the state directory and the GeoIP database, attach to the
configured interfaces, and serve the admin socket and the metrics. SIGHUP or
'enforcer reload' re-reads the configuration and the database without an
enforcement gap. On exit the pinned program keeps enforcing; 'enforcer
detach' removes it.`,
	examples: []example{
		{"Validate the configuration and exit", "enforcer run --check --config /etc/enforcer/enforcer.yaml"},
		{"Run in the foreground", "enforcer run"},
	},
	flags: func(fs *pflag.FlagSet) runFunc {
		cfg := fs.String("config", config.DefaultPath, "the configuration `FILE`")
		check := fs.Bool("check", false, "validate the configuration, print a summary, and exit")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("run: unexpected argument %q", args[0])
			}
			if *check {
				c, err := config.LoadDerived(ctx, *cfg)
				if err != nil {
					return err
				}
				// Warnings, not errors: the operator may mean it (a lab, a
				// mail server that serves no mail on that port).
				for _, w := range c.UpstreamWarnings(ctx, config.LookupHost) {
					fmt.Fprintf(e.stderr, "enforcer: warning: %s\n", w)
				}
				n, derived := 0, ""
				for _, s := range c.Services {
					if s.Enabled && s.Protected() {
						n++
					}
					if s.Derived != "" {
						derived += fmt.Sprintf(", %s derived from %s: tcp %d to %v", s.Name, s.Derived, s.Ports[0], s.Destinations)
					}
				}
				fmt.Fprintf(e.stdout, "%s: ok (%d enforced services, %d interfaces, %d deny entries%s)\n", *cfg, n, len(c.Interfaces), len(c.Deny), derived)
				return nil
			}
			return daemon.Run(ctx, daemon.Options{ConfigPath: *cfg, Version: version, Log: e.stderr})
		}
	},
}
