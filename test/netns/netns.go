// Package netns builds network labs for privileged tests: named network
// namespaces, veth pairs between them, addresses and routes, and running Go
// code inside a namespace on a locked OS thread.
//
// Everything a Must helper creates is removed with tb.Cleanup, even when the
// test fails. Namespaces are named "enf<pid>-<n>-<role>", so two test
// binaries never collide and a leftover after a crash names its owner (list
// them with `ip netns list`, remove them with `ip netns del`).
//
// A network namespace is per OS thread. Code that must run inside one (open
// a socket, attach XDP, read /proc/sys/net) goes through NS.Do, which runs it
// on a fresh locked thread and moves the thread back afterwards; if moving
// back fails the thread is discarded, never returned to the runtime in a
// foreign namespace. Sockets keep the namespace they were created in, so a
// listener opened in Do can be served from any goroutine.
//
// It is for tests only: production code never imports it.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamedDir is where named namespaces are bind-mounted, as with `ip netns`.
const NamedDir = "/run/netns"

// NS is a named network namespace.
type NS struct {
	name   string
	handle vnetns.NsHandle
	nl     *netlink.Handle
	owned  bool // Delete removes the namespace, not only our handles
}

var seq atomic.Uint64

// MustNew creates a namespace for role (a short word such as "client") with
// loopback up and IPv6 duplicate address detection off, so addresses are
// usable as soon as they are added. The namespace is deleted when tb ends.
func MustNew(tb testing.TB, role string) *NS {
	tb.Helper()
	ns, err := New(fmt.Sprintf("enf%d-%d-%s", os.Getpid(), seq.Add(1), role))
	if err != nil {
		tb.Fatalf("create network namespace: %v", err)
	}
	tb.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			tb.Errorf("delete network namespace: %v", err)
		}
	})
	return ns
}

// New creates the named namespace name; the caller must Delete it.
func New(name string) (*NS, error) {
	ns := &NS{name: name, handle: vnetns.None(), owned: true}
	err := onThread(func() error {
		// NewNamed moves this (locked, throw-away) thread into the new
		// namespace; onThread moves it back.
		h, err := vnetns.NewNamed(name)
		if err != nil {
			// NewNamed leaves its mount point behind if the bind mount fails.
			if !errors.Is(err, os.ErrExist) {
				os.Remove(filepath.Join(NamedDir, name))
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		ns.handle = h
		// Devices created later copy "default"; DAD would leave IPv6
		// addresses tentative (unusable as sources) for a second or more.
		for _, conf := range []string{"all", "default"} {
			if err := writeSysctl("net/ipv6/conf/"+conf+"/accept_dad", "0"); err != nil {
				return err
			}
		}
		// The handle's sockets are opened here, so they stay in the namespace
		// whichever thread uses them later.
		if ns.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("open netlink in %s: %w", name, err)
		}
		lo, err := ns.nl.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find loopback in %s: %w", name, err)
		}
		if err := ns.nl.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set loopback up in %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		if ns.handle.IsOpen() {
			err = errors.Join(err, ns.Delete())
		}
		return nil, err
	}
	return ns, nil
}

// Open opens the existing named namespace name without taking ownership:
// Close releases the handles and leaves the namespace alone. It is for
// processes a test starts inside a lab it built.
func Open(name string) (*NS, error) {
	h, err := vnetns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", name, err)
	}
	ns := &NS{name: name, handle: h}
	err = ns.Do(func() error {
		var err error
		ns.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open netlink in %s: %w", name, err)
	}
	return ns, nil
}

// Name is the namespace's name, as `ip netns` shows it.
func (ns *NS) Name() string { return ns.name }

// Path is the namespace's bind mount, usable with `nsenter --net=`.
func (ns *NS) Path() string { return filepath.Join(NamedDir, ns.name) }

// Netlink is a netlink handle bound to the namespace: queries and changes
// through it act inside the namespace from any thread.
func (ns *NS) Netlink() *netlink.Handle { return ns.nl }

// Close releases the process's handles to the namespace.
func (ns *NS) Close() error {
	if ns.nl != nil {
		ns.nl.Close()
		ns.nl = nil
	}
	if ns.handle.IsOpen() {
		if err := ns.handle.Close(); err != nil {
			return fmt.Errorf("close network namespace %s: %w", ns.name, err)
		}
	}
	return nil
}

// Delete closes the handles and, for a namespace this process created,
// removes its name. The kernel destroys the namespace, with its devices,
// once no socket or process still uses it.
func (ns *NS) Delete() error {
	err := ns.Close()
	if !ns.owned {
		return err
	}
	if derr := vnetns.DeleteNamed(ns.name); derr != nil && !errors.Is(derr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("delete network namespace %s: %w", ns.name, derr))
	}
	ns.owned = false
	return err
}

// Do runs f with the calling OS thread in the namespace. f runs on a fresh
// goroutine locked to its thread; it must not call runtime.UnlockOSThread,
// t.FailNow or t.Fatal (report an error instead).
func (ns *NS) Do(f func() error) error {
	return onThread(func() error {
		if err := vnetns.Set(ns.handle); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", ns.name, err)
		}
		return f()
	})
}

// onThread runs f on a new goroutine locked to its OS thread, then returns
// the thread to the network namespace it started in. If that fails, or f
// never returns (runtime.Goexit), the goroutine exits still locked and the
// runtime terminates the thread instead of reusing it in the wrong
// namespace (see runtime.LockOSThread).
func onThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		err := errors.New("function exited without returning (runtime.Goexit, t.FailNow?)")
		defer func() { errc <- err }()
		runtime.LockOSThread()
		orig, gerr := vnetns.Get()
		if gerr != nil {
			runtime.UnlockOSThread() // not moved yet
			err = fmt.Errorf("open current network namespace: %w", gerr)
			return
		}
		defer orig.Close()
		ferr := f()
		if serr := vnetns.Set(orig); serr != nil {
			err = errors.Join(ferr, fmt.Errorf("restore network namespace: %w (thread discarded)", serr))
			return // still locked: the thread dies with the goroutine
		}
		runtime.UnlockOSThread()
		err = ferr
	}()
	return <-errc
}

// writeSysctl sets a /proc/sys key for the calling thread's namespace:
// /proc/sys/net resolves the namespace of the thread that opens it.
func writeSysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s: %w", key, err)
	}
	return nil
}

// Sysctl sets a /proc/sys key (such as "net/ipv4/ip_forward") inside the
// namespace.
func (ns *NS) Sysctl(key, value string) error {
	return ns.Do(func() error { return writeSysctl(key, value) })
}
