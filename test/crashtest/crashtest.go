// Package crashtest kills a writer at a random moment, for the crash-safety
// tests of the stores (policy/store, l7/devicesync).
//
// The writer is a test of the same test binary, re-executed as a child
// with an environment variable that tells it what to write. It reports on
// stdout, one line each, "open N" once its database is open and
// "committed N" after each change is durable; [Kill] returns the last
// change reported, which the caller checks the reopened database against
// (the kill may also fall between a commit and its report).
//
// It is for tests only and knows no store's format: the caller's child
// writes and the caller checks.
package crashtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Opened and Committed write the child's report lines.
func Opened(w io.Writer, n uint64)    { fmt.Fprintf(w, "open %d\n", n) }
func Committed(w io.Writer, n uint64) { fmt.Fprintf(w, "committed %d\n", n) }

// Kill runs the test named child in a new process with env=value set,
// SIGKILLs it delay later (counted from its "open" report when fromOpen)
// and returns the last change it reported committed (0 if none) and
// whether it reported opening its database. It fails the test if the
// child ended by itself or never opened.
func Kill(t testing.TB, child, env, value string, fromOpen bool, delay time.Duration) (last uint64, opened bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+value)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	openCh := make(chan struct{})
	lines := make(chan uint64, 1)
	go func() {
		var last uint64
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "open "):
				close(openCh)
			case strings.HasPrefix(line, "committed "):
				if k, err := strconv.ParseUint(strings.TrimPrefix(line, "committed "), 10, 64); err == nil {
					last = k
				}
			}
		}
		lines <- last
	}()
	if fromOpen {
		select {
		case <-openCh:
		case <-lines:
			cmd.Wait()
			t.Fatalf("child ended before opening its database; stderr:\n%s", stderr.String())
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not open its database within 10s; stderr:\n%s", stderr.String())
		}
	}
	time.Sleep(delay) // when to kill is the random variable, not a synchronisation
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	last = <-lines // EOF once the child is dead
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended by itself (%v), not by our SIGKILL; stderr:\n%s", err, stderr.String())
	}
	select {
	case <-openCh:
		opened = true
	default:
	}
	return last, opened
}
