// Command enforcer is the gateway's command-line interface: it runs the
// daemon and drives it, and it manages the GeoIP databases. Run
// `enforcer --help` for the commands.
//
// It owns the commands: their flags, their output, the checks of their
// arguments. It reaches a running daemon only over the admin API, through
// its client package, and links the daemon package in only for `enforcer
// run`; it holds no policy logic of its own (service ids come from
// policy/compose, verdicts are explained by policy/explain).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitStatus(err, os.Stderr))
}

// run is the whole CLI, driven in-process by the tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dispatch(ctx, &env{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}, args)
}

// exitCode is an error that only sets the exit status; nothing is printed.
// `geoip update --unchanged-exit-code` uses it.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitStatus prints err as "enforcer: <message>" and returns the process's
// exit status: 0 for nil, the code of an exitCode, else 1.
func exitStatus(err error, stderr io.Writer) int {
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(stderr, "enforcer: %v\n", err)
		return 1
	}
}
