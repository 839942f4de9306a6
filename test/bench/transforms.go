package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/links"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// The transforms suite (issue 6): how many megabytes of mail a core
// transforms per second, for Sync responses with an HTML body and with a
// full MIME body (HTML + a PDF to encrypt), and the devices per 2 cores
// that implies for a mail mix, beside the reference gateway's 4,000
// devices per 2 cores with email security on.
//
// The mix, stated so it can be argued with: a device receives 100
// messages a day of 75 KB on average (7.5 MB/day), and the busiest hour
// carries an eighth of the day; transforms get 2 cores to themselves.
const (
	mixBytesPerDevicePerDay = 7.5e6
	mixPeakHourShare        = 1.0 / 8
	referenceDevicesPer2    = 4000
)

func transformRows(short bool) ([]Row, error) {
	dir, err := os.MkdirTemp("", "enforcer-bench-transforms-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	lr, err := links.New(links.Config{HTTPScheme: "mibrowser", HTTPSScheme: "mibrowsers", Mode: links.All})
	if err != nil {
		return nil, err
	}
	master, err := attach.LoadOrCreateMaster(filepath.Join(dir, "attachment.key"))
	if err != nil {
		return nil, err
	}
	rules := &transform.Rules{Links: lr, Master: master, SMIMEPassThrough: true, Attachments: &attach.Policy{
		Managed: attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"pdf"}, Action: attach.Encrypt}, {Extensions: []string{"exe"}, Action: attach.Block}}}}}
	rules.ShareMemory(nil)
	plan := rules.Plan(transform.Who{Managed: true, DeviceID: "BENCH1", User: "jane@example.com", UserAgent: "Outlook-iOS/2.0"})

	html := benchNewsletter()
	mime := benchMIME(html)
	dur := 2 * time.Second
	if short {
		dur = 300 * time.Millisecond
	}
	var rows []Row
	var rates []float64
	for _, c := range []struct {
		name string
		doc  []byte
	}{
		{"html", syncDoc("2", html)},
		{"mime", syncDoc("4", mime)},
	} {
		// Pass-through first: the same document through a plan whose
		// rules match nothing costs only the walk.
		idle, err := mbPerSecond(&transform.Plan{HTML: func(b []byte) ([]byte, int) { return b, 0 }}, c.doc, dur)
		if err != nil {
			return nil, fmt.Errorf("%s pass-through: %w", c.name, err)
		}
		busy, err := mbPerSecond(plan, c.doc, dur)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		rates = append(rates, busy)
		rows = append(rows,
			Row{Name: "transform." + c.name + ".mb_per_s_core", Value: busy, Unit: "MB/s"},
			Row{Name: "transform." + c.name + ".passthrough_mb_per_s_core", Value: idle, Unit: "MB/s"},
			Row{Name: "transform." + c.name + ".doc_bytes", Value: float64(len(c.doc)), Unit: "bytes"})
	}
	// The mix is mail, half HTML-only, half MIME with attachments: the
	// harmonic mean of the two rates.
	mix := 2 / (1/rates[0] + 1/rates[1])
	peakPerDevice := mixBytesPerDevicePerDay * mixPeakHourShare / 3600 // bytes/s
	devices := 2 * mix * 1e6 / peakPerDevice
	ratio := devices / referenceDevicesPer2
	rows = append(rows,
		Row{Name: "transform.mix.mb_per_s_core", Value: mix, Unit: "MB/s"},
		Row{Name: "transform.devices_per_2_cores", Value: devices, Unit: "devices", Ratio: &ratio})
	return rows, nil
}

// mbPerSecond runs the plan over doc for about dur and returns the median
// of five runs' input megabytes per second, on one goroutine.
func mbPerSecond(p *transform.Plan, doc []byte, dur time.Duration) (float64, error) {
	var runs []float64
	for range 5 {
		n, start := 0, time.Now()
		for time.Since(start) < dur/5 {
			if _, err := p.WBXML(io.Discard, bytes.NewReader(doc), transform.Limits{}); err != nil {
				return 0, err
			}
			n++
		}
		runs = append(runs, float64(n*len(doc))/time.Since(start).Seconds()/1e6)
	}
	slices.Sort(runs)
	return runs[len(runs)/2], nil
}

func syncDoc(bodyType string, data []byte) []byte {
	E, T := wbxml.Elem, wbxml.ElemText
	var adds []*wbxml.Node
	for i := range 5 {
		adds = append(adds, E("AirSync:Add", T("AirSync:ServerId", fmt.Sprintf("1:%d", i)), E("AirSync:ApplicationData",
			T("Email:Subject", "Weekly update"), T("Email:MessageClass", "IPM.Note"),
			E("AirSyncBase:Body", T("AirSyncBase:Type", bodyType), T("AirSyncBase:EstimatedDataSize", fmt.Sprint(len(data))),
				T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", string(data))),
			E("AirSyncBase:Attachments", E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", "report.pdf"),
				T("AirSyncBase:FileReference", fmt.Sprintf("1:%d:report.pdf", i)), T("AirSyncBase:Method", "1"), T("AirSyncBase:EstimatedDataSize", "120000"))))))
	}
	b, err := wbxml.Encode(E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:SyncKey", "9"), T("AirSync:CollectionId", "1"), T("AirSync:Status", "1"), E("AirSync:Commands", adds...)))))
	if err != nil {
		panic(err)
	}
	return b
}

// benchNewsletter is a ~60 KB HTML newsletter: tables, styles, images and
// 120 links.
func benchNewsletter() []byte {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><style>td{padding:8px;font-family:Arial}</style></head><body><table width="600">`)
	for i := 0; b.Len() < 60_000; i++ {
		fmt.Fprintf(&b, `<tr><td><img src="https://cdn.example.com/img/%d.png" width="120" alt="story %d"></td><td><h2>Story %d</h2>`+
			`<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. `+
			`Read <a href="https://news.example.com/story/%d?utm_source=mail">more</a> or visit <a href='http://intranet.example/s/%d'>the intranet</a>.</p></td></tr>`, i, i, i, i, i)
	}
	b.WriteString(`</table></body></html>`)
	return []byte(b.String())
}

// benchMIME is a multipart/mixed message: the newsletter as quoted-
// printable HTML and a 64 KB PDF attachment in base64.
func benchMIME(html []byte) []byte {
	pdf := make([]byte, 64<<10)
	rand.Read(pdf)
	var b bytes.Buffer
	b.WriteString("From: news@example.com\r\nTo: jane@example.com\r\nSubject: Weekly update\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	line := 0
	for _, c := range html {
		s := string(c)
		if c == '=' || c > 126 {
			s = fmt.Sprintf("=%02X", c)
		}
		if line+len(s) > 75 {
			b.WriteString("=\r\n")
			line = 0
		}
		b.WriteString(s)
		line += len(s)
	}
	b.WriteString("\r\n--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(pdf)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return b.Bytes()
}
