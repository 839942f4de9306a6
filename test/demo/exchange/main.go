// Command exchange is the demo's stand-in for an Exchange server: it
// answers every Sync with the same mailbox, one message with links and two
// attachments (report.pdf, setup.exe), serves report.pdf to GetAttachment,
// and logs each request, so the demo shows which requests the gateway let
// through and what its transforms did to the mail.
//
//	exchange -listen 192.0.2.10:8080 -log /tmp/enforcer-demo/exchange.log
//
// It is part of the demo: no package imports it.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mailgate/enforcer/l7/wbxml"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	logPath := flag.String("log", "", "append one line per request to this file (default stderr)")
	flag.Parse()
	out := io.Writer(os.Stderr)
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	box, err := wbxml.Encode(mailbox())
	if err != nil {
		log.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		q := r.URL.Query()
		fmt.Fprintf(out, "%s %s Cmd=%s User=%s DeviceId=%s from %s\n", time.Now().Format(time.TimeOnly), r.Method, q.Get("Cmd"), q.Get("User"), q.Get("DeviceId"), r.RemoteAddr)
		if r.Method == http.MethodOptions {
			w.Header().Set("MS-ASProtocolVersions", "14.0,14.1,16.0,16.1")
			w.Header().Set("MS-ASProtocolCommands", "Sync,FolderSync,Ping,ItemOperations,Settings,Provision")
			return
		}
		if q.Get("Cmd") == "GetAttachment" {
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(reportPDF)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ms-sync.wbxml")
		w.Write(box)
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

var (
	mailHTML = `<html><body><p>Hi Jane, the <a href="https://intranet.demo.invalid/q3">Q3 numbers</a> are in;` +
		` the old <a href="http://portal.demo.invalid/">portal</a> has them too.</p></body></html>`
	reportPDF = []byte("%PDF-1.7\n% the demo's quarterly report\n%%EOF\n")
)

func mailbox() *wbxml.Node {
	E, T := wbxml.Elem, wbxml.ElemText
	att := func(name string, size int) *wbxml.Node {
		return E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", name), T("AirSyncBase:FileReference", "1:1:"+name),
			T("AirSyncBase:Method", "1"), T("AirSyncBase:EstimatedDataSize", fmt.Sprint(size)))
	}
	return E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:SyncKey", "2"), T("AirSync:CollectionId", "1"), T("AirSync:Status", "1"),
		E("AirSync:Commands", E("AirSync:Add", T("AirSync:ServerId", "1:1"), E("AirSync:ApplicationData",
			T("Email:Subject", "Q3 numbers"), T("Email:MessageClass", "IPM.Note"),
			E("AirSyncBase:Body", T("AirSyncBase:Type", "2"), T("AirSyncBase:EstimatedDataSize", fmt.Sprint(len(mailHTML))),
				T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", mailHTML)),
			E("AirSyncBase:Attachments", att("report.pdf", len(reportPDF)), att("setup.exe", 40960))))))))
}
