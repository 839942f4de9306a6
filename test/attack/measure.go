package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CPU time is read per task from /proc/<pid>/task/<tid>/schedstat (the
// scheduler's own nanosecond count; this kernel has no
// IRQ_TIME_ACCOUNTING, so /proc/stat's softirq column is a 4 ms tick
// sample and only a cross-check). The protected host's CPU is its NAPI
// thread (the whole receive path: XDP, GRO, netfilter, IP, TCP/UDP up to
// the socket), the protected CPU's ksoftirqd (softirq work deferred there)
// and the server process.

// taskCPU returns the CPU time of one task.
func taskCPU(pid, tid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("schedstat of %d/%d: empty", pid, tid)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err
}

// processCPU returns the CPU time of all of pid's threads (exited threads
// not counted; the helpers' threads live as long as they do).
func processCPU(pid int) (time.Duration, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		d, err := taskCPU(pid, tid)
		if err != nil {
			continue // exited meanwhile
		}
		total += d
	}
	return total, nil
}

// findKernelThreads returns the pids of kernel threads whose name starts
// with prefix ("napi/pro123-" or "ksoftirqd/1").
func findKernelThreads(prefix string, exact bool) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		if comm == prefix || (!exact && strings.HasPrefix(comm, prefix)) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// pinTask pins a task (thread) to cpu.
func pinTask(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(pid, &set); err != nil {
		return fmt.Errorf("pin task %d to cpu %d: %w", pid, cpu, err)
	}
	return nil
}

// realtime gives a task the SCHED_FIFO priority threaded interrupt
// handlers get by default (50).
func realtime(pid int) error {
	if err := unix.SchedSetAttr(pid, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 50}, 0); err != nil {
		return fmt.Errorf("make task %d real-time: %w", pid, err)
	}
	return nil
}

// pinProcess pins every thread of this process to cpu; threads created
// later, and child processes, inherit it.
func pinProcess(cpu int) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := pinTask(tid, cpu); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// cpuTicks is one CPU's line of /proc/stat, in USER_HZ ticks.
type cpuTicks struct {
	busy, softirq, steal, total uint64
}

func readCPUTicks(cpu int) (cpuTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}, err
	}
	want := fmt.Sprintf("cpu%d ", cpu)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, want) {
			continue
		}
		f := strings.Fields(line)[1:]
		var v []uint64
		for _, s := range f {
			n, _ := strconv.ParseUint(s, 10, 64)
			v = append(v, n)
		}
		if len(v) < 7 {
			break
		}
		var t cpuTicks
		for i, n := range v {
			if i >= 8 { // guest time is already in user
				break
			}
			t.total += n
		}
		t.softirq = v[6]
		if len(v) > 7 {
			t.steal = v[7] // the hypervisor ran something else: neither busy nor idle here
		}
		t.busy = t.total - v[3] - v[4] - t.steal // minus idle and iowait
		return t, nil
	}
	return cpuTicks{}, fmt.Errorf("/proc/stat: no line for cpu%d", cpu)
}

// sample is every counter at one instant.
type sample struct {
	at             time.Time
	sent           uint64 // generator: packets redirected into atk0
	rx, ringFull   uint64 // pro0: frames into its ring; refused (ring full)
	dropped        uint64 // the method's drop counter
	napi, softirqd time.Duration
	server         time.Duration
	ticks          cpuTicks
	client         clientStats
}

// point is one attack rate's measurement, as rates over the window.
type point struct {
	method     string
	target     float64 // attack rate asked for (pps); 0 none, -1 unpaced
	window     time.Duration
	offered    float64 // pps the generator sent
	received   float64 // pps into the protected ring
	ringFull   float64 // pps refused by the full ring
	dropped    float64 // pps the method dropped
	napiCores  float64 // CPU of the receive path, in cores
	softdCores float64 // CPU of the protected CPU's ksoftirqd, in cores
	servCores  float64 // CPU of the servers, in cores
	protCores  float64 // NAPI + ksoftirqd + servers, in cores
	cpuBusy    float64 // the protected CPU's busy share, from /proc/stat
	softirq    float64 // the protected CPU's softirq share, from /proc/stat
	steal      float64 // the protected CPU's share stolen by the hypervisor
	legitTPS   float64 // completed legitimate transactions per second
	legitFail  float64 // failed legitimate transactions per second
	p50, p99   time.Duration
	legitCount uint64
}

func diff(m string, target float64, a, b sample) point {
	w := b.at.Sub(a.at)
	s := w.Seconds()
	rate := func(x, y uint64) float64 { return float64(y-x) / s }
	cores := func(x, y time.Duration) float64 { return (y - x).Seconds() / s }
	p := point{
		method: m, target: target, window: w,
		offered:    rate(a.sent, b.sent),
		received:   rate(a.rx, b.rx),
		ringFull:   rate(a.ringFull, b.ringFull),
		dropped:    rate(a.dropped, b.dropped),
		napiCores:  cores(a.napi, b.napi),
		softdCores: cores(a.softirqd, b.softirqd),
		servCores:  cores(a.server, b.server),
		protCores:  cores(a.napi+a.softirqd+a.server, b.napi+b.softirqd+b.server),
		legitTPS:   rate(a.client.Done, b.client.Done),
		legitFail:  rate(a.client.Failed, b.client.Failed),
	}
	p.legitCount = b.client.Done - a.client.Done
	if dt := b.ticks.total - a.ticks.total; dt > 0 {
		p.cpuBusy = float64(b.ticks.busy-a.ticks.busy) / float64(dt)
		p.softirq = float64(b.ticks.softirq-a.ticks.softirq) / float64(dt)
		p.steal = float64(b.ticks.steal-a.ticks.steal) / float64(dt)
	}
	var h [histBuckets]uint64
	for i := range h {
		h[i] = b.client.Hist[i] - a.client.Hist[i]
	}
	p.p50, p.p99 = histQuantile(h, 0.5), histQuantile(h, 0.99)
	return p
}
