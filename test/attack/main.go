// Command attack floods a protected host with packets from disallowed
// sources and measures, side by side in one run, what it costs to drop
// them and how much legitimate traffic gets through, with the same policy
// enforced four ways: no filter, nftables, iptables with ipset, and
// enforcer's XDP program (generic and native mode).
//
// It builds a lab of network namespaces (lab.go), a kernel-side packet
// generator (gen.go) and two helper processes (peers.go), measures each
// method at several attack rates (measure.go, harness.go), and prints a
// table and rows like `make bench`'s ({"name","value","unit","ratio"},
// ratio against nftables), with -out written as JSON and a gnuplot PNG.
// Everything it creates is removed at the end, on error and on SIGINT or
// SIGTERM too; a run killed outright is cleaned up by the next.
//
// It needs root, two CPUs or more, and ip, ethtool, taskset, nft, ipset,
// iptables-restore and gnuplot (scripts/deps.sh installs them).
//
// It is a tool: no package imports it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
}

// run dispatches the helper subcommands and otherwise runs the harness.
func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serve(args[1:])
		case "client":
			return client(args[1:])
		}
	}
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return runHarness(cfg)
}
