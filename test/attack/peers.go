package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The harness runs two helper processes from its own binary, each inside
// its namespace (ip netns exec) and on its CPU (taskset):
//
//	attack serve   the protected host's servers: a TCP echo server on the
//	               IMAPS port and a UDP sink on the QUIC port
//	attack client  the legitimate client: a few connections making paced
//	               request/response transactions
//
// Both exit when their standard input closes, so they never outlive the
// harness. Separate processes make their CPU time measurable on its own.

// serve runs the protected host's servers until stdin closes.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	tcpPort := fs.Int("tcp", imapsPort, "TCP echo port")
	udpPort := fs.Int("udp", quicPort, "UDP sink port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("[::]:%d", *tcpPort))
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", fmt.Sprintf("[::]:%d", *udpPort))
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil && !errors.Is(err, net.ErrClosed) {
				continue
			} else if err != nil {
				return
			}
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
	pc.Close()
	return nil
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// clientStats is the client's running totals, as it reports them.
type clientStats struct {
	Done       uint64              `json:"done"`       // transactions completed
	Failed     uint64              `json:"failed"`     // transactions that timed out or broke
	Reconnects uint64              `json:"reconnects"` // connections re-opened after a failure
	Hist       [histBuckets]uint64 `json:"hist"`       // round-trip times, see histBucket
}

// Round-trip histogram: 20 buckets per decade from 1 µs to 10 s.
const (
	histPerDecade = 20
	histBuckets   = 7 * histPerDecade
)

func histBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return min(int(math.Log10(us)*histPerDecade), histBuckets-1)
}

// histQuantile returns the upper bound of the bucket holding quantile q of
// h (0 if h is empty).
func histQuantile(h [histBuckets]uint64, q float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h {
		seen += n
		if seen >= want {
			return time.Duration(math.Pow(10, float64(i+1)/histPerDecade) * float64(time.Microsecond))
		}
	}
	return 0
}

// catchUp is how far behind schedule a connection may fall and still
// catch up: queueing and scheduling delays are absorbed (they show in the
// round-trip times), a retransmission timeout (200 ms at least, RFC 6298
// with Linux's minimum) is not.
const catchUp = 100 * time.Millisecond

// client runs paced transactions against the target until stdin closes;
// each line on stdin asks for the running totals as one JSON line.
func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	target := fs.String("target", "", "server address:port")
	srcs := fs.String("src", "", "comma-separated source addresses; connections are spread over them")
	conns := fs.Int("conns", 32, "connections")
	rate := fs.Float64("rate", 4000, "transactions per second, all connections together")
	size := fs.Int("size", 64, "request and response bytes")
	timeout := fs.Duration("timeout", 2*time.Second, "a transaction's deadline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dst, err := netip.ParseAddrPort(*target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	var from []netip.Addr
	for _, s := range strings.Split(*srcs, ",") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("-src: %w", err)
		}
		from = append(from, a)
	}
	var (
		done, failed, reconnects atomic.Uint64
		hist                     [histBuckets]atomic.Uint64
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	period := time.Duration(float64(*conns) / *rate * float64(time.Second))
	var wg sync.WaitGroup
	for i := range *conns {
		src := from[i%len(from)]
		wg.Go(func() {
			req := make([]byte, *size)
			resp := make([]byte, *size)
			for j := range req {
				req[j] = byte('A' + (i+j)%26)
			}
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: *timeout}
			var c net.Conn
			// Stagger the connections over one period.
			next := time.Now().Add(period * time.Duration(i) / time.Duration(*conns))
			for ctx.Err() == nil {
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				next = next.Add(period)
				if time.Since(next) > catchUp {
					next = time.Now()
				}
				if c == nil {
					var err error
					if c, err = d.DialContext(ctx, "tcp", dst.String()); err != nil {
						failed.Add(1)
						c = nil
						continue
					}
				}
				t0 := time.Now()
				c.SetDeadline(t0.Add(*timeout))
				_, err := c.Write(req)
				if err == nil {
					_, err = io.ReadFull(c, resp)
				}
				if err != nil {
					failed.Add(1)
					reconnects.Add(1)
					c.Close()
					c = nil
					continue
				}
				done.Add(1)
				hist[histBucket(time.Since(t0))].Add(1)
			}
			if c != nil {
				c.Close()
			}
		})
	}
	in := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		s := clientStats{Done: done.Load(), Failed: failed.Load(), Reconnects: reconnects.Load()}
		for i := range hist {
			s.Hist[i] = hist[i].Load()
		}
		if err := enc.Encode(s); err != nil {
			break
		}
	}
	cancel()
	wg.Wait()
	return nil
}
