package devicesync

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/test/crashtest"
)

// crashChildEnv carries the database path to TestApplyChild.
const crashChildEnv = "ENFORCER_DEVICESYNC_CRASH_CHILD_DB"

const (
	crashRounds   = 25
	crashMaxDelay = 150 * time.Millisecond
	// crashKeep is how many batches stay: change r deletes batch r-crashKeep.
	crashKeep = 20
	// crashPolicyEvery is how often a change carries a policy.
	crashPolicyEvery = 7
	crashShared      = 10
)

var crashBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// crashBatch is the records change r adds: a batch of its own, of varying
// size (every 16th large enough to split pages), and one of the shared
// devices, which every change overwrites in turn.
func crashBatch(r uint64) []device.Record {
	n := 1 + int(r*7919%17)
	if r%16 == 0 {
		n = 300
	}
	t := crashBase.Add(time.Duration(r) * time.Second)
	recs := make([]device.Record, 0, n+1)
	for i := range n {
		recs = append(recs, device.Record{
			DeviceID: fmt.Sprintf("d%d-%d", r, i), User: fmt.Sprintf("user%d@contoso.com", i), Managed: true,
			Model: "batch " + strconv.FormatUint(r, 10) + strings.Repeat("x", int(r%50)), Updated: t,
		})
	}
	recs = append(recs, device.Record{DeviceID: fmt.Sprintf("shared-%d", r%crashShared), Model: "rev " + strconv.FormatUint(r, 10), Updated: t})
	return recs
}

// crashChange is change r (from 1) of the crash test, committed with
// cursor r: the cursor is the revision.
func crashChange(r uint64) Change {
	ch := Change{Upsert: crashBatch(r)}
	if r > crashKeep {
		for _, d := range crashBatch(r - crashKeep) {
			if !strings.HasPrefix(d.DeviceID, "shared-") {
				ch.Delete = append(ch.Delete, Deletion{DeviceID: d.DeviceID, Deleted: crashBase.Add(time.Duration(r) * time.Second)})
			}
		}
	}
	if r%crashPolicyEvery == 0 {
		ch.Policy = &PolicyDoc{Revision: strconv.FormatUint(r, 10), Updated: crashBase.Add(time.Duration(r) * time.Second), policyConfig: device.Config{InactivityDays: int(r%100) + 1}}
	}
	return ch
}

// TestApplyChild is the process TestCrashSafety kills: it applies changes
// as fast as it can and reports each once Apply has returned.
func TestApplyChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	time.AfterFunc(30*time.Second, func() { os.Exit(3) }) // never outlive a parent that failed to kill us
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	db, err := Open(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fail(err)
	}
	st := device.NewStore(device.StoreOptions{})
	if err := db.Load(st); err != nil {
		fail(err)
	}
	c, err := db.Cursor()
	if err != nil {
		fail(err)
	}
	rev, _ := strconv.ParseUint(c, 10, 64)
	crashtest.Opened(os.Stdout, rev)
	for r := rev + 1; ; r++ {
		cur := strconv.FormatUint(r, 10)
		res, err := db.Apply(st, crashChange(r), &cur)
		if err != nil {
			fail(fmt.Errorf("change %d: %w", r, err))
		}
		// Each change is applied once: nothing in it was there before.
		if want := len(crashChange(r).Upsert); res.Upserted != want || res.Stale != 0 || res.Unchanged != 0 {
			fail(fmt.Errorf("change %d: %+v, want %d upserted and nothing stale or unchanged", r, res, want))
		}
		crashtest.Committed(os.Stdout, r)
	}
}

// TestCrashSafety kills a process applying changes again and again, at
// random points, and reopens the file each time: it must always hold
// every committed change whole and nothing of the next. A SIGKILL leaves
// the page cache to the kernel, so this tests bbolt's commit protocol and
// our one-transaction-per-change against a process dying anywhere, not
// power loss.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process 25 times")
	}
	path := filepath.Join(t.TempDir(), FileName)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun with CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	var reported, unreported uint64
	for round := range crashRounds {
		fromOpen := round%5 != 0 // some kills land in Open and Load
		delay := time.Duration(rng.Int64N(int64(crashMaxDelay)))
		if !fromOpen {
			delay = time.Duration(rng.Int64N(int64(5 * time.Millisecond)))
		}
		last, _ := crashtest.Kill(t, "TestApplyChild", crashChildEnv, path, fromOpen, delay)
		reported = max(reported, last)
		rev := verifyCrashState(t, path, reported)
		if rev > reported {
			unreported++
		}
		reported = rev
	}
	t.Logf("%d rounds, %d changes committed, %d kills between a commit and its report", crashRounds, reported, unreported)
	if reported < crashKeep {
		t.Errorf("only %d changes committed: the kills came too early to test deletions", reported)
	}
}

// verifyCrashState reopens the file and checks that it holds exactly the
// state after change rev, where rev is its cursor and is the last change
// reported or the one after (killed between commit and report).
func verifyCrashState(t *testing.T, path string, reported uint64) uint64 {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) && reported == 0 {
		return 0 // killed before bbolt created the file
	}
	db, err := Open(path, Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("after kill: %v", err)
	}
	c, err := db.Cursor()
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := strconv.ParseUint(c, 10, 64)
	if rev != reported && rev != reported+1 {
		t.Fatalf("cursor %d after kill, but the child reported %d changes committed", rev, reported)
	}
	st := device.NewStore(device.StoreOptions{})
	if err := db.Load(st); err != nil {
		t.Fatalf("load after kill: %v", err)
	}
	want := map[string]string{} // device ID → model
	for r := uint64(1); r <= rev; r++ {
		for _, d := range crashBatch(r) {
			want[d.DeviceID] = d.Model
		}
		if r > crashKeep {
			for _, d := range crashChange(r).Delete {
				delete(want, d.DeviceID)
			}
		}
	}
	got := map[string]string{}
	for _, r := range st.Records() {
		got[r.DeviceID] = r.Model
	}
	for id, m := range want {
		if g, ok := got[id]; !ok || g != m {
			t.Fatalf("revision %d (%d reported): device %s is %q (present %v), want %q", rev, reported, id, g, ok, m)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("revision %d (%d reported): %d records, want %d: a change is partly there", rev, reported, len(got), len(want))
	}
	p := st.Policy()
	switch last := rev / crashPolicyEvery * crashPolicyEvery; {
	case last == 0 && p.Loaded():
		t.Fatalf("revision %d: a policy is loaded before any change carried one", rev)
	case last > 0 && p.Config().Revision != strconv.FormatUint(last, 10):
		t.Fatalf("revision %d: policy revision %q, want %d", rev, p.Config().Revision, last)
	}
	return rev
}
