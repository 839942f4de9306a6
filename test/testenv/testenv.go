// Package testenv decides whether privileged tests can run. On a developer
// machine without root they skip; in CI (the CI variable set) a missing
// privilege or tool fails the test instead, so CI never passes by skipping.
//
// It is for tests only: production code never imports it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") != "" }

// RequireRoot skips tb without root, or fails it in CI.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		missing(tb, "this test needs root (BPF, XDP, network namespaces)")
	}
}

// RequireTools skips tb if a command is not on PATH, or fails it in CI.
func RequireTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing(tb, "this test needs "+n+" on PATH (run scripts/deps.sh)")
		}
	}
}

func missing(tb testing.TB, why string) {
	tb.Helper()
	if InCI() {
		tb.Fatal(why + "; in CI this is a failure, not a skip")
	}
	tb.Skip(why)
}
