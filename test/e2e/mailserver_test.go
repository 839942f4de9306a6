package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// A real mail server from Debian's packages (dovecot's IMAP) in the lab's
// server namespace and a real client (curl's IMAP support) in the client
// namespace, with the enforcer between them guarding tcp/143.

const (
	imapPort     = 143
	imapUser     = "alice"
	imapPassword = "wonderland"
	// imapDropTime bounds curl from a disallowed source: its SYN and the
	// retransmission after 1 s (RFC 6298 sec. 2) are both dropped.
	imapDropTime = 2
	// imapPassTime bounds curl from an allowed source: connect, login,
	// LIST, logout.
	imapPassTime = 15
)

// dovecot is a dovecot master process in the foreground, with its
// configuration, runtime directory, mail and log under one directory.
type dovecot struct {
	dir, log string
	cmd      *exec.Cmd
	done     chan struct{}
}

var dovecotSeq atomic.Uint64

// mustDovecot starts dovecot serving IMAP on port 143 (any address, IPv4
// and IPv6) inside ns, with one user, plaintext login allowed, no TLS, and
// waits until it greets. It is stopped when tb ends; a failed test prints
// its log.
func mustDovecot(tb testing.TB, ns *netns.NS) *dovecot {
	tb.Helper()
	// Not tb.TempDir: its parent is root-only, and dovecot's mail
	// processes run unprivileged.
	dir, err := os.MkdirTemp("", "enforcer-e2e-dovecot-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	// Dovecot refuses to run mail processes as root.
	owner, err := user.Lookup("nobody")
	if err != nil {
		tb.Fatalf("dovecot's mail user: %v", err)
	}
	uid, gid := atoi(tb, owner.Uid), atoi(tb, owner.Gid)
	for _, sub := range []string{"mail", "home"} {
		p := filepath.Join(dir, sub)
		if err := os.Mkdir(p, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	d := &dovecot{dir: dir, log: filepath.Join(dir, "dovecot.log"), done: make(chan struct{})}
	users := filepath.Join(dir, "users")
	line := fmt.Sprintf("%s:{PLAIN}%s:%d:%d::%s::\n", imapUser, imapPassword, uid, gid, filepath.Join(dir, "home", imapUser))
	if err := os.WriteFile(users, []byte(line), 0o644); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`# written by test/e2e/mailserver_test.go
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = enforcer-e2e-%[2]d-%[3]d
log_path = %[4]s
protocols = imap
listen = *, ::
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:%[1]s/mail/%%u
passdb {
  driver = passwd-file
  args = %[5]s
}
userdb {
  driver = passwd-file
  args = %[5]s
}
service imap-login {
  inet_listener imap {
    port = %[6]d
  }
  inet_listener imaps {
    port = 0
  }
}
`, dir, os.Getpid(), dovecotSeq.Add(1), d.log, users, imapPort)), 0o644); err != nil {
		tb.Fatal(err)
	}

	out, err := os.Create(filepath.Join(dir, "dovecot.out"))
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	d.cmd = exec.Command("nsenter", "--net="+ns.Path(), "dovecot", "-F", "-c", conf)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start dovecot: %v", err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	tb.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
		if tb.Failed() {
			for _, f := range []string{"dovecot.out", "dovecot.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				tb.Logf("%s:\n%s", f, b)
			}
		}
	})

	// Ready once it greets on the loopback (which XDP does not see).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var greeting string
		err := ns.Do(func() error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", imapPort), time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			greeting, err = bufio.NewReader(c).ReadString('\n')
			return err
		})
		if err == nil && strings.HasPrefix(greeting, "* OK") {
			return d
		}
		select {
		case <-d.done:
			tb.Fatalf("dovecot exited: %v", d.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("dovecot did not greet on port %d within 10s: %v %q", imapPort, err, greeting)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// loggedIn reports whether dovecot logged a login of imapUser from src.
func (d *dovecot) loggedIn(src netip.Addr) bool {
	b, _ := os.ReadFile(d.log)
	return strings.Contains(string(b), fmt.Sprintf("Login: user=<%s>, method=PLAIN, rip=%s,", imapUser, src))
}

// heardFrom reports whether dovecot logged anything about a client at src.
func (d *dovecot) heardFrom(src netip.Addr) bool {
	b, _ := os.ReadFile(d.log)
	return strings.Contains(string(b), "rip="+src.String()+",")
}

func atoi(tb testing.TB, s string) int {
	tb.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		tb.Fatalf("%q: %v", s, err)
	}
	return n
}

// curlIMAP logs in as imapUser from src with curl in the client namespace
// and lists the mailboxes of the server at dst, within maxTime seconds.
func (l *lab) curlIMAP(t *testing.T, src, dst netip.Addr, maxTime int) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(maxTime+10)*time.Second)
	defer cancel()
	url := fmt.Sprintf("imap://%s/", net.JoinHostPort(dst.String(), fmt.Sprint(imapPort)))
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+l.client.Path(), "curl", "--silent", "--show-error",
		"--interface", src.String(), "--max-time", fmt.Sprint(maxTime),
		"--user", imapUser+":"+imapPassword, "--request", `LIST "" "*"`, url)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cliResult{stdout.String(), stderr.String(), err}
}

// curlExit is curl's exit status, -1 if it did not exit.
func curlExit(r cliResult) int {
	if r.err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](r.err); ok {
		return ee.ExitCode()
	}
	return -1
}

// curlTimedOut is curl's exit status for "operation timed out".
const curlTimedOut = 28

// TestMailServerIMAP puts the enforcer in front of dovecot, with IMAP
// (tcp/143) geofenced to AT, CH and DE plus the lab allowlist: curl logs in
// and lists the mailboxes from allowed sources, over IPv4 and IPv6, and
// times out from the others, which dovecot never hears from. Then `allow
// add` lets one of them in.
func TestMailServerIMAP(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter", "curl", "dovecot")
	t.Parallel()
	l := mustLab(t)
	dc := mustDovecot(t, l.server)
	a := mustAppliance(t, l, applianceOptions{imapPorts: []uint16{imapPort}})
	a.start(t, a.bin)

	type attempt struct {
		src  source
		f    family
		pass bool
	}
	var attempts []attempt
	for _, f := range families {
		for _, s := range sources {
			attempts = append(attempts, attempt{s, f, s.pass()})
		}
	}
	before := a.stats(t)
	results := make([]cliResult, len(attempts))
	var wg sync.WaitGroup
	for i, at := range attempts {
		// Concurrently: the disallowed ones wait out their timeout.
		wg.Go(func() {
			maxTime := imapDropTime
			if at.pass {
				maxTime = imapPassTime
			}
			results[i] = l.curlIMAP(t, at.src.addr(at.f), at.f.server, maxTime)
		})
	}
	wg.Wait()
	wantDrops := map[statKey]uint64{}
	for i, at := range attempts {
		src, r := at.src.addr(at.f), results[i]
		name := fmt.Sprintf("%s %s (%v)", at.f.name, at.src.name, src)
		if at.pass {
			if curlExit(r) != 0 || !strings.Contains(r.stdout, `* LIST (\HasNoChildren) "." INBOX`) {
				t.Errorf("%s: curl exit %d, stdout %q, stderr %q; want the mailbox list", name, curlExit(r), r.stdout, r.stderr)
			}
			waitFor(t, name+": dovecot logs the login", func() error {
				if !dc.loggedIn(src) {
					return fmt.Errorf("no login of %s from %v in %s", imapUser, src, dc.log)
				}
				return nil
			})
			continue
		}
		if curlExit(r) != curlTimedOut {
			t.Errorf("%s: curl exit %d, stdout %q, stderr %q; want %d (timed out: SYNs dropped)", name, curlExit(r), r.stdout, r.stderr, curlTimedOut)
		}
		// At least its SYN (its retransmission after 1 s too, normally).
		wantDrops[statKey{"imap", "drop", at.src.reason.String()}]++
	}
	a.waitStats(t, "imap", before, wantDrops)
	for _, at := range attempts {
		if src := at.src.addr(at.f); !at.pass && dc.heardFrom(src) {
			t.Errorf("dovecot heard from the disallowed %v (%s)", src, at.src.name)
		}
	}
	if t.Failed() {
		return
	}

	t.Run("allow add", func(t *testing.T) {
		brazil := sourceNamed(t, "other-country").v6
		a.mustCLI(t, "allow", "add", netip.PrefixFrom(brazil, 128).String(), "--service", "imap", "--comment", "e2e: let the BR client in")
		r := l.curlIMAP(t, brazil, families[1].server, imapPassTime)
		if curlExit(r) != 0 || !strings.Contains(r.stdout, "INBOX") {
			t.Errorf("curl from %v after allow add: exit %d, stdout %q, stderr %q; want the mailbox list", brazil, curlExit(r), r.stdout, r.stderr)
		}
		waitFor(t, "dovecot logs the login", func() error {
			if !dc.loggedIn(brazil) {
				return fmt.Errorf("no login from %v", brazil)
			}
			return nil
		})
	})
}
