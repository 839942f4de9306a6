package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
)

// soapOp is an EWS request envelope with one operation.
func soapOp(op string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header>
  <soap:Body><m:` + op + `><m:ItemIds><t:ItemId Id="AAMkAD"/></m:ItemIds></m:` + op + `></soap:Body>
</soap:Envelope>`
}

// TestEWSUnderTransformPlan: a user and client under an email security
// plan cannot fetch through EWS what the transforms would have changed
// over ActiveSync; operations that carry no item content pass with their
// body intact, and without a plan everything passes.
func TestEWSUnderTransformPlan(t *testing.T) {
	rules := &transform.Rules{Attachments: &attach.Policy{Unmanaged: attach.RuleSet{Default: attach.Block}}}
	tests := []struct {
		name      string
		plan      bool
		method    string
		body      string
		header    map[string]string
		forwarded bool
	}{
		{name: "GetItem, no plan", body: soapOp("GetItem"), forwarded: true},
		{name: "GetItem under a plan", plan: true, body: soapOp("GetItem")},
		{name: "GetAttachment under a plan", plan: true, body: soapOp("GetAttachment")},
		{name: "FindItem under a plan", plan: true, body: soapOp("FindItem")},
		{name: "ExportItems under a plan", plan: true, body: soapOp("ExportItems")},
		{name: "SyncFolderItems under a plan", plan: true, body: soapOp("SyncFolderItems")},
		{name: "GetConversationItems under a plan", plan: true, body: soapOp("GetConversationItems")},
		{name: "unknown operation under a plan", plan: true, body: soapOp("GetSomethingNew")},
		{name: "GetItem behind a SOAPAction that says GetFolder", plan: true, body: soapOp("GetItem"),
			header: map[string]string{"SOAPAction": `"http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder"`}},
		{name: "SOAP 1.2 envelope, GetItem", plan: true,
			body: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetItem xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"/></e:Body></e:Envelope>`},
		{name: "operation outside the EWS namespace", plan: true,
			body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetFolder/></s:Body></s:Envelope>`},
		{name: "unparsable body under a plan", plan: true, body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:GetFolder`},
		{name: "not XML under a plan", plan: true, body: "GetFolder"},
		{name: "empty Body under a plan", plan: true, body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`},
		{name: "operation past the read limit", plan: true,
			body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>` + strings.Repeat("<x/>", maxEWSPrefix/4) + `</s:Header><s:Body><GetFolder xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>`},
		{name: "compressed body under a plan", plan: true, body: soapOp("GetFolder"), header: map[string]string{"Content-Encoding": "gzip"}},
		{name: "GET under a plan", plan: true, method: http.MethodGet},
		{name: "GetFolder under a plan", plan: true, body: soapOp("GetFolder"), forwarded: true},
		{name: "CreateItem under a plan", plan: true, body: soapOp("CreateItem"), forwarded: true},
		{name: "SyncFolderHierarchy under a plan", plan: true, body: soapOp("SyncFolderHierarchy"), forwarded: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var active *transform.Rules
			if tc.plan {
				active = rules
			}
			e := newEnvDeps(t, mustPolicy(t, device.Config{}), func(d *Deps) { d.Transforms = func() *transform.Rules { return active } }, ewsOn)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := basicReq(t, method, e.front.URL+"/EWS/Exchange.asmx", "jane", tc.body)
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			got := do(t, req)
			reqs := e.mail.requests()
			if !tc.forwarded {
				if got.Status != http.StatusForbidden || len(reqs) != 0 {
					t.Fatalf("status %d, mail server got %d requests; want 403 and none", got.Status, len(reqs))
				}
				rec := e.logs.waitFor(t, MsgTransaction, nil)
				if rec.Attrs["reason"] != string(ReasonEWSTransformPlan) || rec.Attrs["decision"] != "block" {
					t.Errorf("logged %v", rec.Attrs)
				}
				return
			}
			if got.Status != http.StatusOK || len(reqs) != 1 {
				t.Fatalf("status %d, mail server got %d requests; want 200 and one", got.Status, len(reqs))
			}
			if string(reqs[0].Body) != tc.body {
				t.Errorf("mail server got body %q, want it whole", reqs[0].Body)
			}
		})
	}
}

// TestEWSOffByDefault: without EWS.Enabled, /EWS is not a route: 404, and
// nothing reaches the mail server, whatever the credentials.
func TestEWSOffByDefault(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	for _, p := range []string{"/EWS/Exchange.asmx", "/ews/exchange.asmx", "/EWS/Services.wsdl", "/EWS"} {
		got := do(t, basicReq(t, http.MethodPost, e.front.URL+p, "jane", soapOp("GetItem")))
		if got.Status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, got.Status)
		}
	}
	if n := len(e.mail.requests()); n != 0 {
		t.Fatalf("mail server got %d requests", n)
	}
}
