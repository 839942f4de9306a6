package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mailgate/enforcer/l7/device"
)

// TestTransactionLog checks the summary of a proxied request field by
// field.
func TestTransactionLog(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone", body: "0123456789"})
	rec := e.logs.waitFor(t, MsgTransaction, nil)
	for _, k := range []string{"req", "duration", "upstream"} {
		if _, ok := rec.Attrs[k]; !ok {
			t.Errorf("no %s in %v", k, rec.Attrs)
		}
		delete(rec.Attrs, k)
	}
	want := map[string]any{
		"route": "eas", "method": "POST", "user": "jane", "device_id": "D1", "device_type": "iPhone", "cmd": "Sync",
		"status": int64(200), "bytes_in": int64(10), "bytes_out": int64(len(got.Body)),
		"decision": "allow", "reason": "default.allow", "src": "127.0.0.1",
	}
	if diff := cmp.Diff(want, rec.Attrs); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// TestBlockedDetail: a blocked request adds a detail record with the rule
// and headers, credentials redacted.
func TestBlockedDetail(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{BlockedDeviceTypes: []string{"Kindle"}}))
	e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "Kindle"})
	e.logs.waitFor(t, MsgTransaction, nil)
	recs := e.logs.all(MsgBlocked)
	if len(recs) != 1 {
		t.Fatalf("%d blocked records", len(recs))
	}
	a := recs[0].Attrs
	if a["rule"] != "BlockedDeviceTypes=Kindle" || a["eas_status"] != int64(129) || a["reason"] != "general.device_type.blocked" {
		t.Errorf("blocked record %v", a)
	}
	if auth := a["request_headers.Authorization"]; auth != "Basic [redacted]" {
		t.Errorf("Authorization logged as %v", auth)
	}
	if a["request_headers.User-Agent"] != "Apple-iPhone15C2/2101.10" {
		t.Errorf("headers %v", a)
	}
}

// TestTargetedLogging: verbose records only for targeted users and
// devices, switched on and off at run time.
func TestTargetedLogging(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	req := func(user, dev string) {
		e.eas(t, easReq{cmd: "Sync", user: user, deviceID: dev, devType: "iPhone"})
	}
	count := func() int {
		e.logs.waitFor(t, MsgTransaction, nil)
		return len(e.logs.all(MsgTargeted))
	}
	req("jane", "D1")
	if n := count(); n != 0 {
		t.Fatalf("%d targeted records with no targets", n)
	}
	tg := e.proxy.Targets()
	tg.AddDevice("d2")
	tg.AddUser("BOB")
	req("jane", "D1") // neither
	req("jane", "D2") // device
	req("bob", "D3")  // user
	e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["device_id"] == "D3" })
	var targeted []string
	for _, r := range e.logs.all(MsgTargeted) {
		targeted = append(targeted, r.Attrs["device_id"].(string))
		if _, ok := r.Attrs["response_headers.Content-Type"]; !ok {
			t.Errorf("targeted record without response headers: %v", r.Attrs)
		}
	}
	if diff := cmp.Diff([]string{"D2", "D3"}, targeted); diff != "" {
		t.Errorf("targeted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bob"}, tg.Users()); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	tg.RemoveDevice("D2")
	tg.RemoveUser("bob")
	req("bob", "D2")
	e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["user"] == "bob" && r.Attrs["device_id"] == "D2" })
	if n := len(e.logs.all(MsgTargeted)); n != 2 {
		t.Errorf("%d targeted records after removal, want still 2", n)
	}
}

// TestMalformedLogged: a refused malformed request is logged with what
// could be read and why.
func TestMalformedLogged(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	req := e.easRequest(t, easReq{query: "Cmd=Sync&User=jane&DeviceType=iPhone", user: "jane"})
	if got := do(t, req); got.Status != http.StatusBadRequest {
		t.Fatalf("status %d", got.Status)
	}
	rec := e.logs.waitFor(t, MsgTransaction, nil)
	if rec.Attrs["status"] != int64(400) || rec.Attrs["user"] != "jane" || rec.Attrs["cmd"] != "" || !strings.Contains(rec.Attrs["err"].(string), "DeviceId") {
		t.Errorf("log %v", rec.Attrs)
	}
}

// TestAuthorizationNeverLogged: whatever the Authorization header looks
// like, the logs show at most a short token-shaped scheme, never the
// credentials ("Basic\t<credentials>" has no scheme: all of it is
// credentials).
func TestAuthorizationNeverLogged(t *testing.T) {
	const secret = "SeCrEtCrEd"
	for _, auth := range []string{
		"Basic\t" + secret + "==",
		"Basic\t\t" + secret,
		secret + "==",
		"Basic," + secret,
		"Bearer/" + secret + " x",
		"Negotiate=" + secret,
		strings.Repeat("A", 40) + secret + " x",
		"Basic " + secret + "!!",
		"Bearer " + secret,
		"NTLM " + secret,
		" Basic " + secret,
	} {
		t.Run(auth, func(t *testing.T) {
			e := newEnv(t, mustPolicy(t, device.Config{}))
			e.proxy.Targets().AddDevice("D1")
			resp := rawRequest(t, e.front.Listener.Addr().String(), "POST "+pathEAS+"?Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone HTTP/1.1\r\n"+
				"Host: gw.test\r\nAuthorization: "+auth+"\r\nMS-ASProtocolVersion: 14.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			if resp.StatusCode == http.StatusOK && len(e.mail.requests()) != 0 {
				t.Errorf("forwarded with credentials %q", auth)
			}
			e.logs.waitFor(t, MsgTransaction, nil)
			det := e.logs.waitFor(t, MsgTargeted, nil)
			got, _ := det.Attrs["request_headers.Authorization"].(string)
			scheme, ok := strings.CutSuffix(got, " [redacted]")
			if !ok || len(scheme) > 32 || strings.ContainsAny(scheme, " \t=/,") {
				t.Errorf("logged Authorization %q", got)
			}
			for _, r := range e.logs.all("") {
				for k, v := range r.Attrs {
					if s, ok := v.(string); ok && strings.Contains(s, secret) {
						t.Errorf("%s record logs the credentials in %s: %q", r.Msg, k, s)
					}
				}
			}
		})
	}
}
