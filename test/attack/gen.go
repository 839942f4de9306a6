package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The generator is the kernel's own packet generator: BPF_PROG_RUN in XDP
// live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18), the engine of
// xdp-tools' xdp-trafficgen. A tiny XDP program, run in a loop inside the
// kernel, overwrites each frame with one of a few thousand prepared frames
// (a random pick per packet) and redirects it out of the generator's veth.
// The frames land in the protected veth's receive ring as raw buffers, not
// socket buffers, as frames from a NIC's DMA ring would: XDP sees them
// first, and the stack (nftables, iptables) pays for building an skb, as it
// does behind a real NIC. AF_PACKET would hand the protected side ready-made
// skbs, and trafgen's TX_RING stalls on a veth with NAPI (the socket's send
// buffer fills with skbs parked in the peer's ring).

// Each BPF_PROG_RUN call in live-frame mode sets up and tears down a page
// pool and an XDP memory model, and returns about 25 ms after its last
// packet (measured here; the thread sleeps meanwhile). So the generator
// runs long calls, paces itself
// inside the program (a packet leaves when bpf_ktime_get_ns() reaches its
// slot; earlier runs return XDP_DROP, which recycles the page at once), and
// keeps two threads calling in turn so one sends while the other sleeps in
// teardown.
const (
	// liveBatch is how many frames the kernel prepares and flushes at once
	// (the NAPI budget, the kernel's default).
	liveBatch = 64
	// callTarget is the wall time one call aims at: short enough to stop
	// promptly, long enough that setup costs little.
	callTarget = 100 * time.Millisecond
	// senders is how many threads take turns calling.
	senders = 2
	// paceSlack bounds the catch-up burst after a pause: the schedule never
	// lags the clock by more than this.
	paceSlack = 50 * time.Microsecond
)

// paceState is the generator's state, one array element shared by its
// threads (which run on one CPU, never at once: a program run is not
// preempted, so plain loads and stores suffice).
type paceState struct {
	Next     uint64 // ns (CLOCK_MONOTONIC) when the next packet may leave
	Interval uint64 // ns between packets; 0: as fast as possible
	Slack    uint64 // ns, see paceSlack
	Sent     uint64 // packets redirected so far
	Limit    uint64 // Sent stops here: the flood's packet budget
}

// generator sends prepared frames out of one veth.
type generator struct {
	pace   *ebpf.Map
	frames *ebpf.Map
	prog   *ebpf.Program
	first  []byte // what the kernel initialises its pages with
}

// slotSize is a frame slot in the frame map: the frame, zero-padded, then
// its length as a little-endian uint32.
const (
	maxFrame = 80
	slotSize = maxFrame + 8
)

// newGenerator loads frames (a power-of-two count, each at most maxFrame
// bytes) and the program that sends a random one of them per run,
// redirected to ifindex. It must be called in the generator's namespace.
func newGenerator(frames [][]byte, ifindex int) (*generator, error) {
	n := len(frames)
	if n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("generator: %d frames, want a power of two", n)
	}
	longest := 0
	for _, f := range frames {
		if len(f) > maxFrame || len(f) < 14 {
			return nil, fmt.Errorf("generator: a frame of %d bytes, want 14 to %d", len(f), maxFrame)
		}
		longest = max(longest, len(f))
	}
	g := &generator{first: make([]byte, longest)}
	copy(g.first, frames[0])
	var err error
	if g.pace, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "attack_pace", Type: ebpf.Array, KeySize: 4, ValueSize: 40, MaxEntries: 1,
	}); err != nil {
		return nil, fmt.Errorf("create pace map: %w", err)
	}
	if g.frames, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "attack_frames", Type: ebpf.Array, KeySize: 4, ValueSize: slotSize, MaxEntries: uint32(n),
	}); err != nil {
		g.Close()
		return nil, fmt.Errorf("create frame map: %w", err)
	}
	for i, f := range frames {
		slot := make([]byte, slotSize)
		copy(slot, f)
		binary.LittleEndian.PutUint32(slot[maxFrame:], uint32(len(f)))
		if err := g.frames.Put(uint32(i), slot); err != nil {
			g.Close()
			return nil, fmt.Errorf("fill frame map: %w", err)
		}
	}
	if g.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "attack_gen",
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: genProgram(g.pace.FD(), g.frames.FD(), n, longest, ifindex),
	}); err != nil {
		g.Close()
		return nil, fmt.Errorf("load generator program: %+v", err)
	}
	return g, nil
}

// Close releases the program and maps.
func (g *generator) Close() {
	if g.prog != nil {
		g.prog.Close()
	}
	if g.frames != nil {
		g.frames.Close()
	}
	g.pace.Close()
}

// genProgram is, in C, with size the initial (longest) frame length:
//
//	struct pace *p = bpf_map_lookup_elem(&pace, &zero);
//	if (!p || p->sent >= p->limit)
//		return XDP_DROP;        // the budget is spent: spin until the call ends
//	if (p->interval) {
//		__u64 now = bpf_ktime_get_ns();
//		if (now < p->next)
//			return XDP_DROP;        // not this packet's slot yet: spin
//		__u64 next = p->next + p->interval;
//		p->next = next < now - p->slack ? now - p->slack : next;
//	}
//	p->sent++;
//	__u32 i = bpf_get_prandom_u32() & (n - 1);
//	struct slot *f = bpf_map_lookup_elem(&frames, &i);
//	if (!f || data + size > data_end)
//		return XDP_DROP;
//	memcpy(data, f->frame, size);   // a recycled page keeps the last frame
//	if (f->len < size)
//		bpf_xdp_adjust_tail(ctx, f->len - size);
//	return bpf_redirect(ifindex, 0);
func genProgram(paceFD, framesFD, n, size, ifindex int) asm.Instructions {
	const drop = 1 // XDP_DROP
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, paceFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R1, asm.R7, 24, asm.DWord), // sent
		asm.LoadMem(asm.R2, asm.R7, 32, asm.DWord), // limit
		asm.JGE.Reg(asm.R1, asm.R2, "drop"),
		asm.LoadMem(asm.R8, asm.R7, 8, asm.DWord), // interval
		asm.JEq.Imm(asm.R8, 0, "send"),
		asm.FnKtimeGetNs.Call(),
		asm.LoadMem(asm.R1, asm.R7, 0, asm.DWord), // next
		asm.JLT.Reg(asm.R0, asm.R1, "drop"),
		asm.Add.Reg(asm.R1, asm.R8),
		asm.LoadMem(asm.R2, asm.R7, 16, asm.DWord), // slack
		asm.Sub.Reg(asm.R0, asm.R2),
		asm.JGE.Reg(asm.R1, asm.R0, "store"),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.StoreMem(asm.R7, 0, asm.R1, asm.DWord).WithSymbol("store"),
		asm.LoadMem(asm.R1, asm.R7, 24, asm.DWord).WithSymbol("send"),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R7, 24, asm.R1, asm.DWord),
		asm.FnGetPrandomU32.Call(),
		asm.And.Imm(asm.R0, int32(n-1)),
		asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
		asm.LoadMapPtr(asm.R1, framesFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // xdp_md.data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, int32(size)),
		asm.JGT.Reg(asm.R4, asm.R3, "drop"),
	}
	for off := 0; off < size; {
		sz, w := asm.DWord, 8
		switch rest := size - off; {
		case rest >= 8:
		case rest >= 4:
			sz, w = asm.Word, 4
		case rest >= 2:
			sz, w = asm.Half, 2
		default:
			sz, w = asm.Byte, 1
		}
		insns = append(insns,
			asm.LoadMem(asm.R5, asm.R0, int16(off), sz),
			asm.StoreMem(asm.R2, int16(off), asm.R5, sz))
		off += w
	}
	return append(insns,
		asm.LoadMem(asm.R2, asm.R0, maxFrame, asm.Word), // slot length
		asm.JGE.Imm(asm.R2, int32(size), "redirect"),
		asm.Add.Imm(asm.R2, -int32(size)),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnXdpAdjustTail.Call(),
		asm.Mov.Imm(asm.R1, int32(ifindex)).WithSymbol("redirect"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, drop).WithSymbol("drop"),
		asm.Return(),
	)
}

// Sent is how many packets the generator has redirected into its link,
// whether or not the peer's ring had room for them.
func (g *generator) Sent() (uint64, error) {
	p, err := g.state()
	return p.Sent, err
}

func (g *generator) state() (paceState, error) {
	var p paceState
	if err := g.pace.Lookup(uint32(0), &p); err != nil {
		return p, fmt.Errorf("read generator state: %w", err)
	}
	return p, nil
}

// setRate sets the packet rate (0: unpaced), restarts the schedule and
// allows budget more packets. Call it while the generator is not running.
func (g *generator) setRate(pps float64, budget uint64) error {
	p := paceState{Slack: uint64(paceSlack)}
	if pps > 0 {
		p.Interval = max(uint64(1e9/pps), 1)
	}
	old := paceState{}
	if err := g.pace.Lookup(uint32(0), &old); err != nil {
		return fmt.Errorf("read generator state: %w", err)
	}
	p.Sent = old.Sent
	p.Limit = old.Sent + budget
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return err
	}
	p.Next = uint64(ts.Nano())
	if err := g.pace.Put(uint32(0), p); err != nil {
		return fmt.Errorf("set generator rate: %w", err)
	}
	return nil
}

// run sends until ctx is done or the budget given to setRate is spent,
// from senders threads pinned to cpu. do runs a function on a thread in
// the generator's namespace (netns.NS.Do).
func (g *generator) run(ctx context.Context, do func(func() error) error, cpu int) error {
	errc := make(chan error, senders)
	for range senders {
		go func() {
			errc <- do(func() error {
				if err := pinThread(cpu); err != nil {
					return err
				}
				repeat := uint32(1 << 20)
				for ctx.Err() == nil {
					if p, err := g.state(); err != nil || p.Sent >= p.Limit {
						return err
					}
					t0 := time.Now()
					_, err := g.prog.Run(&ebpf.RunOptions{
						Data:      g.first,
						Repeat:    repeat,
						Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
						BatchSize: liveBatch,
					})
					if err != nil {
						return fmt.Errorf("run generator: %w", err)
					}
					// Aim each call at callTarget of wall time.
					el := time.Since(t0)
					next := float64(repeat) * float64(callTarget) / float64(max(el, time.Millisecond))
					repeat = uint32(min(max(next, 1<<16), 1<<26))
				}
				return nil
			})
		}()
	}
	var errs []error
	for range senders {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// pinThread pins the calling OS thread to cpu.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to cpu %d: %w", cpu, err)
	}
	return nil
}
