// Command easclient is the demo's phone: it sends one ActiveSync command
// to the gateway from a chosen source address and prints one line saying
// what came back: the HTTP and EAS status, and for a Sync the links and
// attachments of the messages, as the phone would show them.
//
//	easclient -url https://198.18.0.1/Microsoft-Server-ActiveSync -src 198.51.100.5 \
//	    -device GOODPHONE -user jane@demo.invalid [-cmd GetAttachment -attachment REF]
//
// It is part of the demo: no package imports it.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/wbxml"
)

func main() {
	if err := run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

var href = regexp.MustCompile(`href=["']([^"']+)`)

func run() error {
	target := flag.String("url", "", "the gateway's ActiveSync URL")
	src := flag.String("src", "", "source address to send from")
	deviceID := flag.String("device", "", "EAS DeviceId")
	user := flag.String("user", "", "user name")
	cmd := flag.String("cmd", "Sync", "EAS command: Sync or GetAttachment")
	attachment := flag.String("attachment", "", "GetAttachment's AttachmentName")
	flag.Parse()
	d := &net.Dialer{Timeout: 2 * time.Second}
	if *src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(*src)}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext,
		// The demo's certificate is self-signed.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	q := url.Values{"Cmd": {*cmd}, "User": {*user}, "DeviceId": {*deviceID}, "DeviceType": {"iPhone"}}
	if *attachment != "" {
		q.Set("AttachmentName", *attachment)
	}
	req, err := http.NewRequest(http.MethodPost, *target+"?"+q.Encode(), bytes.NewReader([]byte{3, 1, 0x6a, 0}))
	if err != nil {
		return err
	}
	req.Header.Set("MS-ASProtocolVersion", "16.1")
	req.Header.Set("User-Agent", "Apple-iPhone15C2/2104.84")
	req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	req.SetBasicAuth(*user, "demo")
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return errors.New("dropped by XDP (never reached the proxy)")
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	out := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.Header.Get("Content-Type") != "application/vnd.ms-sync.wbxml" {
		if resp.StatusCode == http.StatusOK {
			out += fmt.Sprintf(", %d bytes %s", len(body), resp.Header.Get("Content-Type"))
			if bytes.HasPrefix(body, []byte("ENFA")) {
				out += " (encrypted with this phone's key)"
			}
		}
		fmt.Println(out)
		return nil
	}
	doc, err := wbxml.Decode(body)
	if err != nil {
		return fmt.Errorf("%s, undecodable WBXML: %v", out, err)
	}
	if st := doc.Child("AirSync:Status"); st != nil {
		out += ", EAS Status " + st.Value()
	}
	if col := doc.Find("AirSync:Collections", "AirSync:Collection"); col != nil {
		if st := col.Child("AirSync:Status"); st != nil {
			out += ", EAS Status " + st.Value()
		}
		if cmds := col.Child("AirSync:Commands"); cmds != nil {
			for _, add := range cmds.ChildrenNamed("AirSync:Add") {
				item := add.Child("AirSync:ApplicationData")
				var links, atts []string
				if data := item.Find("AirSyncBase:Body", "AirSyncBase:Data"); data != nil {
					for _, m := range href.FindAllStringSubmatch(data.Value(), -1) {
						links = append(links, m[1])
					}
				}
				if list := item.Child("AirSyncBase:Attachments"); list != nil {
					for _, a := range list.ChildrenNamed("AirSyncBase:Attachment") {
						atts = append(atts, a.Child("AirSyncBase:DisplayName").Value())
					}
				}
				out += fmt.Sprintf("; links: %s; attachments: %s", orNone(links), orNone(atts))
			}
		}
	}
	fmt.Println(out)
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}
