// Command exchange is the demo's stand-in for an Exchange server: it
// answers ActiveSync requests with a WBXML Sync response (Status 1) and
// logs each one, so the demo shows which requests the gateway let through.
//
//	exchange -listen 192.0.2.10:8080 -log /tmp/enforcer-demo/exchange.log
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
	ok, err := wbxml.Encode(wbxml.Elem("AirSync:Sync", wbxml.ElemText("AirSync:Status", "1")))
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
		w.Header().Set("Content-Type", "application/vnd.ms-sync.wbxml")
		w.Write(ok)
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
