package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// env is what a command may use of the process: its streams and its
// environment. Tests replace all of them.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	root           *command // the whole tree, for commands that walk it
}

// runFunc runs a command with its positional arguments, after its flags
// were parsed.
type runFunc func(ctx context.Context, e *env, args []string) error

// example is one command line shown in help, with what it does.
type example struct {
	what, line string
}

// command is a node of the command tree: a group with subcommands, or a
// leaf that runs. Adding a command is adding a value to a sub list.
type command struct {
	name     string
	short    string // one line, for the parent's list
	usage    string // e.g. "[flags] IP...", after the command path
	long     string // what the command does, for its own help
	examples []example
	// flags defines the command's flags on fs and returns the function
	// that runs it; the returned closure reads the parsed values.
	flags func(fs *pflag.FlagSet) runFunc
	sub   []*command
}

// root is the whole CLI.
var root = &command{
	name:  "enforcer",
	short: "mail gateway enforcer",
	long: `enforcer guards mail servers: its XDP datapath drops packets to mail ports
from sources outside each service's address and country allowlists.`,
	examples: []example{
		{"Run the daemon (systemd does this)", "enforcer run"},
		{"What is dropped and why", "enforcer stats"},
		{"Let a network reach IMAP", "enforcer allow add 203.0.113.0/28 --service imap"},
		{"List the GeoIP commands", "enforcer geoip --help"},
		{"Look up the country of an address", "enforcer geoip lookup 192.0.2.1"},
		{"Why is this phone blocked?", "enforcer device show ApplF17XK2"},
	},
	sub: []*command{runDaemonCommand, reloadCommand, statusCommand, statsCommand, serviceCommand,
		allowCommand, denyCommand, countryCommand, checkCommand, deviceCommand, policyCommand, logCommand,
		detachCommand, geoipCommand, completionCommand},
}

// dispatch runs the command args name.
func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "help" {
		// "enforcer help geoip lookup" is "enforcer geoip lookup --help".
		args = append(args[1:], "--help")
	}
	e.root = root
	return runCommand(ctx, e, root, []string{root.name}, args)
}

func runCommand(ctx context.Context, e *env, cmd *command, path []string, args []string) error {
	name := strings.Join(path, " ")
	// main prefixes every message with "enforcer: "; say the rest of the
	// path so the message tells which command complained.
	prefix := ""
	if len(path) > 1 {
		prefix = strings.Join(path[1:], " ") + ": "
	}
	if cmd.flags == nil {
		if len(args) == 0 {
			return fmt.Errorf("%sno command given; run '%s --help' for the list", prefix, name)
		}
		switch args[0] {
		case "-h", "--help":
			return writeHelp(e.stdout, cmd, path, nil)
		}
		for _, s := range cmd.sub {
			if s.name == args[0] {
				return runCommand(ctx, e, s, append(path, s.name), args[1:])
			}
		}
		if strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("%sunknown flag %s; run '%s --help'", prefix, args[0], name)
		}
		return fmt.Errorf("%sunknown command %q; run '%s --help' for the list", prefix, args[0], name)
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is written below
	fs.SortFlags = false
	run := cmd.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return writeHelp(e.stdout, cmd, path, fs)
		}
		return fmt.Errorf("%s%w; run '%s --help'", prefix, err, name)
	}
	return run(ctx, e, fs.Args())
}

// writeHelp prints a command's help: usage, description, subcommands or
// flags, and examples.
func writeHelp(w io.Writer, cmd *command, path []string, fs *pflag.FlagSet) error {
	name := strings.Join(path, " ")
	var b strings.Builder
	switch {
	case cmd.flags == nil:
		fmt.Fprintf(&b, "Usage: %s COMMAND [flags]\n", name)
	case cmd.usage != "":
		fmt.Fprintf(&b, "Usage: %s %s\n", name, cmd.usage)
	default:
		fmt.Fprintf(&b, "Usage: %s [flags]\n", name)
	}
	if cmd.long != "" {
		fmt.Fprintf(&b, "\n%s\n", cmd.long)
	}
	if len(cmd.sub) > 0 {
		b.WriteString("\nCommands:\n")
		width := 0
		for _, s := range cmd.sub {
			width = max(width, len(s.name))
		}
		for _, s := range cmd.sub {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, s.name, s.short)
		}
		fmt.Fprintf(&b, "\nRun '%s COMMAND --help' for a command's flags and examples.\n", name)
	}
	if fs != nil {
		fs.BoolP("help", "h", false, "show this help")
		fmt.Fprintf(&b, "\nFlags:\n%s", fs.FlagUsages())
	}
	if len(cmd.examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, ex := range cmd.examples {
			fmt.Fprintf(&b, "  # %s\n  %s\n\n", ex.what, ex.line)
		}
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}
