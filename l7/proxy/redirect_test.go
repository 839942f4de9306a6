package proxy

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mailgate/enforcer/l7/device"
)

// TestRedirect451: a 451 from the mail server is rewritten to the gateway,
// the user's later requests go to the server it named, the mapping is
// exported as CSV, and it is dropped when that server fails.
func TestRedirect451(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	mail2 := newFakeMail(t)
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if strings.Contains(r.URL.RawQuery, "User=jane") {
			w.Header().Set(HeaderMSLocation, mail2.URL+"/Microsoft-Server-ActiveSync")
			w.WriteHeader(451)
			return true
		}
		return false
	})
	jane := easReq{cmd: "FolderSync", user: "jane", deviceID: "JANE1", devType: "iPhone"}
	got := e.eas(t, jane)
	if got.Status != 451 {
		t.Fatalf("status %d, want 451", got.Status)
	}
	front, _ := url.Parse(e.front.URL)
	if loc := got.Header.Get(HeaderMSLocation); loc != "http://"+front.Host+"/Microsoft-Server-ActiveSync" {
		t.Fatalf("client got X-MS-Location %q, want the gateway", loc)
	}

	// jane (another device too) now goes to mail2; bob still to mail1.
	if got := e.eas(t, jane); got.Status != 200 {
		t.Fatalf("after redirect: %d", got.Status)
	}
	if got := e.eas(t, easReq{cmd: "Sync", user: "JANE", deviceID: "JANE2", devType: "iPad"}); got.Status != 200 {
		t.Fatalf("other device after redirect: %d", got.Status)
	}
	if got := e.eas(t, easReq{cmd: "Sync", user: "bob", deviceID: "BOB1", devType: "iPhone"}); got.Status != 200 {
		t.Fatalf("bob: %d", got.Status)
	}
	if n1, n2 := len(e.mail.requests()), len(mail2.requests()); n1 != 2 || n2 != 2 {
		t.Fatalf("mail1 got %d requests (want 2: the 451 and bob), mail2 %d (want 2)", n1, n2)
	}
	if q := mail2.requests()[0].RawQuery; q != jane.query_() {
		t.Errorf("mail2 saw query %q", q)
	}
	rec := e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["via_451"] == true })
	if rec.Attrs["upstream"] != strings.TrimPrefix(mail2.URL, "https://") {
		t.Errorf("logged upstream %v", rec.Attrs["upstream"])
	}

	var buf bytes.Buffer
	if err := e.proxy.WriteRedirectsCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ts := e.clock.Now().UTC().Format(time.RFC3339)
	want := [][]string{RedirectsCSVHeader, {"jane", "JANE1", mail2.URL, ts, ts, "2"}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}

	// mail2 goes away: one 502, the mapping is dropped, and jane is back
	// on mail1 (which redirects her again).
	mail2.Close()
	if got := e.eas(t, jane); got.Status != http.StatusBadGateway {
		t.Fatalf("mail2 down: %d, want 502", got.Status)
	}
	if len(e.proxy.Redirects()) != 0 {
		t.Fatalf("mapping kept after its server failed: %v", e.proxy.Redirects())
	}
	if got := e.eas(t, jane); got.Status != 451 {
		t.Fatalf("after drop: %d, want mail1's 451", got.Status)
	}
}

// TestRedirect451Refused: a 451 to a host outside RedirectHosts, or with an
// unusable location, is 502 and remembered nowhere.
func TestRedirect451Refused(t *testing.T) {
	for _, loc := range []string{"https://evil.example/Microsoft-Server-ActiveSync", "/relative", "ftp://mail2/x"} {
		t.Run(loc, func(t *testing.T) {
			e := newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) {
				c.RedirectHosts = []string{"mail2.internal"}
			})
			e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				w.Header().Set(HeaderMSLocation, loc)
				w.WriteHeader(451)
				return true
			})
			got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "J1", devType: "iPhone"})
			if got.Status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502", got.Status)
			}
			if strings.Contains(got.Header.Get(HeaderMSLocation), "evil") {
				t.Fatal("the foreign location reached the client")
			}
			if n := len(e.proxy.Redirects()); n != 0 {
				t.Fatalf("%d mappings", n)
			}
		})
	}
}

func TestRedirectsBounded(t *testing.T) {
	r := newRedirects(2)
	now := time.Unix(0, 0)
	u, _ := url.Parse("https://mail2.internal/x")
	r.remember("a", "A", u, now)
	r.remember("b", "B", u, now)
	if _, ok := r.lookup("a", "", now); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	r.remember("c", "C", u, now)
	var users []string
	for _, m := range r.list() {
		users = append(users, m.User)
	}
	if diff := cmp.Diff([]string{"c", "a"}, users); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	// A request naming no user is keyed by its device.
	r.remember("", "DEV9", u, now)
	if got, ok := r.lookup("", "dev9", now); !ok || got.String() != "https://mail2.internal" {
		t.Errorf("device mapping %v %v", got, ok)
	}
}

func TestRedirectsCSVSafe(t *testing.T) {
	var buf bytes.Buffer
	err := writeRedirectsCSV(&buf, []RedirectMapping{{User: "=HYPERLINK(\"x\")", DeviceID: "+1", Upstream: "https://m"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `'=HYPERLINK`) || !strings.Contains(buf.String(), "'+1") {
		t.Errorf("formula cells not neutralised:\n%s", buf.String())
	}
}

// TestRedirectsCSVFormulaPrefixes: every OWASP formula start (and NUL) is
// defused, with the same escaper as the other exports. Before, a cell
// starting with NUL went out bare.
func TestRedirectsCSVFormulaPrefixes(t *testing.T) {
	var ms []RedirectMapping
	for i, p := range []string{"=", "+", "-", "@", "\t", "\r", "\n", "\x00"} {
		ms = append(ms, RedirectMapping{User: p + "user" + string(rune('a'+i)), DeviceID: p + "dev", Upstream: p + "https://m"})
	}
	var buf bytes.Buffer
	if err := writeRedirectsCSV(&buf, ms); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for col := 0; col < 3; col++ {
			if row[col] == "" || row[col][0] != '\'' {
				t.Errorf("column %s cell %q is not defused", RedirectsCSVHeader[col], row[col])
			}
		}
	}
}
