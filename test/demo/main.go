// Command demo runs enforcer's datapath on a self-contained lab of network
// namespaces: a "clients" namespace holding sources in allowed and
// disallowed countries (per a generated demo country table), joined by a
// veth pair to a "mail" namespace whose interface runs the XDP program, with
// an IMAPS-port TCP server and a UDP echo port behind it. It drives traffic,
// prints what passed and what was dropped and why, and removes the lab.
//
// Run it as root through `make demo`; `make demo-clean` (demo -clean)
// removes anything a killed run left behind.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	vnetns "github.com/vishvananda/netns"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/netns"
)

const (
	pinDir   = "/sys/fs/bpf/enforcer-demo"
	nsMail   = "enforcer-demo-mail"
	nsClient = "enforcer-demo-clients"
	imaps    = 993
	open     = 8080
)

var (
	serverAddr = netip.MustParseAddr("192.0.2.1")
	clientGW   = netip.MustParseAddr("192.0.2.2")
)

type source struct {
	name    string
	addr    netip.Addr
	country string
}

// The demo's sources. Documentation ranges stand in for real networks; the
// generated country table places them.
var sources = []source{
	{"mobile gateway (allowlisted)", netip.MustParseAddr("203.0.113.10"), "US"},
	{"user in Germany", netip.MustParseAddr("198.51.100.10"), "DE"},
	{"user in Austria", netip.MustParseAddr("198.51.100.11"), "AT"},
	{"attacker abroad", netip.MustParseAddr("198.51.100.20"), "KP"},
	{"unknown network", netip.MustParseAddr("198.51.100.30"), ""},
	{"denied host", netip.MustParseAddr("198.51.100.40"), "DE"},
}

func demoPolicy() *policy.Policy {
	p := &policy.Policy{
		Services: []policy.Service{{
			ID: 1, Name: "imaps", Protocols: []policy.Proto{policy.TCP, policy.UDP}, Ports: []uint16{imaps},
			Geofenced: true, Countries: []string{"DE", "AT", "CH"},
			Allow: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		}},
		Deny: []netip.Prefix{netip.MustParsePrefix("198.51.100.40/32")},
	}
	for _, s := range sources {
		p.Networks = append(p.Networks, policy.Network{Prefix: netip.PrefixFrom(s.addr, 32), Country: s.country})
	}
	return p
}

func main() {
	clean := flag.Bool("clean", false, "remove what an earlier run left behind and exit")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: run as root (BPF, XDP and network namespaces need it)")
		os.Exit(1)
	}
	cleanup()
	if *clean {
		fmt.Println("demo: nothing left behind")
		return
	}
	err := run()
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func cleanup() {
	_ = loader.Remove(pinDir)
	for _, n := range []string{nsMail, nsClient} {
		// Deleting a namespace also deletes the veth pair living in it.
		_ = vnetns.DeleteNamed(n)
	}
}

func run() error {
	fmt.Println("enforcer demo: building the lab (namespaces", nsClient, "and", nsMail+")")
	mail, err := netns.New(nsMail)
	if err != nil {
		return err
	}
	defer mail.Delete()
	clients, err := netns.New(nsClient)
	if err != nil {
		return err
	}
	defer clients.Delete()
	if err := netns.Veth(mail, "mail0", clients, "wan0"); err != nil {
		return err
	}
	if err := mail.Addr("mail0", netip.PrefixFrom(serverAddr, 24)); err != nil {
		return err
	}
	if err := clients.Addr("wan0", netip.PrefixFrom(clientGW, 24)); err != nil {
		return err
	}
	for _, s := range sources {
		if err := clients.Addr("wan0", netip.PrefixFrom(s.addr, 32)); err != nil {
			return err
		}
	}
	if err := mail.Route(netip.MustParsePrefix("0.0.0.0/0"), clientGW); err != nil {
		return err
	}

	// Servers inside the mail namespace: a listener's socket stays there.
	var tcpL, openL net.Listener
	var udpC *net.UDPConn
	if err := mail.Do(func() (err error) {
		if tcpL, err = net.Listen("tcp", fmt.Sprintf(":%d", imaps)); err != nil {
			return err
		}
		if openL, err = net.Listen("tcp", fmt.Sprintf(":%d", open)); err != nil {
			return err
		}
		udpC, err = net.ListenUDP("udp", &net.UDPAddr{Port: imaps})
		return err
	}); err != nil {
		return err
	}
	defer tcpL.Close()
	defer openL.Close()
	defer udpC.Close()
	for _, l := range []net.Listener{tcpL, openL} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("* OK enforcer demo IMAP ready\r\n"))
				c.Close()
			}
		}()
	}
	udpSeen := map[netip.Addr]int{}
	udpDone := make(chan struct{})
	go func() {
		defer close(udpDone)
		buf := make([]byte, 1500)
		for {
			_, from, err := udpC.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			udpSeen[from.Addr().Unmap()]++
		}
	}()

	d, err := loader.Load(loader.Options{PinDir: pinDir})
	if err != nil {
		return err
	}
	defer d.Close()
	pol := demoPolicy()
	if err := d.Apply(pol); err != nil {
		return err
	}
	var mode loader.Mode
	if err := mail.Do(func() (err error) { mode, err = d.Attach("mail0", loader.ModeAuto); return err }); err != nil {
		return err
	}
	fmt.Printf("enforcer demo: XDP attached to mail0 in %s mode; service imaps (tcp+udp/%d) admits 203.0.113.0/24 and DE, AT, CH\n\n", mode, imaps)

	type result struct{ imaps, open string }
	results := map[string]result{}
	const datagrams = 5
	for _, s := range sources {
		var r result
		if err := clients.Do(func() error {
			r.imaps = dial(s.addr, imaps)
			r.open = dial(s.addr, open)
			c, err := net.DialUDP("udp", &net.UDPAddr{IP: s.addr.AsSlice()}, &net.UDPAddr{IP: serverAddr.AsSlice(), Port: imaps})
			if err != nil {
				return err
			}
			defer c.Close()
			for range datagrams {
				c.Write([]byte("ping"))
			}
			return nil
		}); err != nil {
			return err
		}
		results[s.name] = r
	}
	time.Sleep(200 * time.Millisecond) // let the last datagrams land before reading
	udpC.Close()
	<-udpDone

	m, err := policy.NewModel(pol)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SOURCE\tADDRESS\tCOUNTRY\tVERDICT (why)\tTCP 993\tUDP 993 arrived\tTCP 8080 (open)")
	for _, s := range sources {
		v := m.JudgeFlow(s.addr, serverAddr, policy.TCP, imaps)
		cc := s.country
		if cc == "" {
			cc = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s (%s)\t%s\t%d/%d\t%s\n", s.name, s.addr, cc, v.Action, v.Reason, results[s.name].imaps, udpSeen[s.addr], datagrams, results[s.name].open)
	}
	w.Flush()

	c, err := d.Counters()
	if err != nil {
		return err
	}
	fmt.Println("\ndatapath counters (packets, summed over CPUs):")
	var keys []loader.CounterKey
	for k := range c.Verdicts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, k := range keys {
		fmt.Printf("  service %d  %-4s  %-10s  %d\n", k.Service, k.Action, k.Reason, c.Verdicts[k].Packets)
	}
	var cs []string
	for cc, n := range c.CountryDrops {
		if cc == "" {
			cc = "(none)"
		}
		cs = append(cs, fmt.Sprintf("%s=%d", cc, n.Packets))
	}
	sort.Strings(cs)
	fmt.Println("  drops by source country:", strings.Join(cs, " "))
	fmt.Println("\nTCP retries its SYN, so dropped connections count several packets.")
	fmt.Println("The lab is removed now; `sudo make demo-clean` clears leftovers of an interrupted run.")
	return nil
}

// dial reports whether a TCP connection from src reaches the server's port.
func dial(src netip.Addr, port int) string {
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 1500 * time.Millisecond}
	c, err := dl.Dial("tcp", netip.AddrPortFrom(serverAddr, uint16(port)).String())
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "dropped (timeout)"
		}
		return "error: " + err.Error()
	}
	defer c.Close()
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := c.Read(buf)
	if n > 0 {
		return "connected"
	}
	return "connected (no banner)"
}
