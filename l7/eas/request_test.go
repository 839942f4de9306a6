package eas

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func basic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		headers map[string]string
		want    Request
	}{
		{
			// [MS-ASHTTP] section 4.1.
			name:    "spec plain FolderSync",
			target:  "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=fakename&DeviceId=v140Device&DeviceType=SmartPhone",
			headers: map[string]string{"MS-ASProtocolVersion": "14.0", "User-Agent": "ASOM"},
			want: Request{
				Command: FolderSync, DeviceID: "v140Device", DeviceType: "SmartPhone", User: "fakename",
				ProtocolVersion: V140, UserAgent: "ASOM",
			},
		},
		{
			name:   "spec base64 with Basic user",
			target: "/Microsoft-Server-ActiveSync?" + specVector,
			headers: map[string]string{
				"Authorization": basic(`CONTOSO\Jane.Doe:pa:ss`), "User-Agent": "Apple-iPhone9C1/1602.92",
				// Ignored: the base64 form carries its own version.
				"MS-ASProtocolVersion": "12.1",
			},
			want: Request{
				Command: Sync, DeviceID: "v140Device", DeviceType: "SmartPhone",
				User: `CONTOSO\Jane.Doe`, AuthUser: `CONTOSO\Jane.Doe`, AuthScheme: "Basic",
				ProtocolVersion: V140, Locale: 0x0409, UserAgent: "Apple-iPhone9C1/1602.92",
			},
		},
		{
			name:   "query user kept beside a different Basic user",
			target: "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=d&DeviceType=t",
			headers: map[string]string{
				"Authorization": basic("bob@contoso.com:x"), "X-MS-PolicyKey": "1307199584",
				"MS-ASProtocolVersion": "14.1", "MS-ASAcceptMultiPart": "T",
			},
			want: Request{
				Command: Ping, DeviceID: "d", DeviceType: "t", User: "alice",
				AuthUser: "bob@contoso.com", AuthScheme: "Basic", ProtocolVersion: V141,
				PolicyKey: 1307199584, HasPolicyKey: true, AcceptMultiPart: true,
			},
		},
		{
			name:    "bearer token names no user",
			target:  "/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=d&DeviceType=t",
			headers: map[string]string{"Authorization": "Bearer eyJ0eXAi"},
			want:    Request{Command: Sync, DeviceID: "d", DeviceType: "t", AuthScheme: "Bearer"},
		},
		{
			name:    "policy key 0 from header",
			target:  "/Microsoft-Server-ActiveSync?Cmd=Provision&DeviceId=d&DeviceType=t",
			headers: map[string]string{"X-MS-PolicyKey": "0"},
			want:    Request{Command: Provision, DeviceID: "d", DeviceType: "t", HasPolicyKey: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hr := httptest.NewRequest(http.MethodPost, tc.target, nil)
			for k, v := range tc.headers {
				hr.Header.Set(k, v)
			}
			got, err := ParseRequest(hr)
			if err != nil {
				t.Fatal(err)
			}
			q, err := ParseQuery(hr.URL.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Query = *q
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("ParseRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	const good = "/Microsoft-Server-ActiveSync?Cmd=Sync&User=u&DeviceId=d&DeviceType=t"
	tests := []struct {
		name      string
		target    string
		headers   http.Header
		want      error
		wantField string
	}{
		{"bad query", "/Microsoft-Server-ActiveSync?Cmd=Nope&DeviceId=d&DeviceType=t", nil, ErrUnknownCommand, "Cmd"},
		{"no query", "/Microsoft-Server-ActiveSync", nil, ErrMissing, "query"},
		{"Basic not base64", good, http.Header{"Authorization": {"Basic !!!"}}, ErrBadAuthorization, "Authorization"},
		{"Basic without colon", good, http.Header{"Authorization": {basic("jane")}}, ErrBadAuthorization, "Authorization"},
		{"Basic with empty user", good, http.Header{"Authorization": {basic(":pw")}}, ErrBadAuthorization, "Authorization"},
		{"two Authorization headers", good, http.Header{"Authorization": {basic("a:b"), basic("c:d")}}, ErrDuplicate, "Authorization"},
		{"policy key not a number", good, http.Header{"X-Ms-Policykey": {"abc"}}, ErrBadValue, "X-MS-PolicyKey"},
		{"policy key beyond 32 bits", good, http.Header{"X-Ms-Policykey": {"4294967296"}}, ErrBadValue, "X-MS-PolicyKey"},
		{"two policy keys", good, http.Header{"X-Ms-Policykey": {"1", "2"}}, ErrDuplicate, "X-MS-PolicyKey"},
		{"bad version", good, http.Header{"Ms-Asprotocolversion": {"fourteen"}}, ErrBadValue, "MS-ASProtocolVersion"},
		{"two user agents", good, http.Header{"User-Agent": {"a", "b"}}, ErrDuplicate, "User-Agent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hr := httptest.NewRequest(http.MethodPost, tc.target, nil)
			hr.Header = tc.headers
			if hr.Header == nil {
				hr.Header = http.Header{}
			}
			got, err := ParseRequest(hr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			if fe.Field != tc.wantField {
				t.Errorf("error %v: field %q, want %q", err, fe.Field, tc.wantField)
			}
			if got == nil {
				t.Fatal("no partial Request returned with the error")
			}
		})
	}
}

func TestParseRequestKeepsHeadersOnQueryError(t *testing.T) {
	hr := httptest.NewRequest(http.MethodPost, "/Microsoft-Server-ActiveSync?Cmd=Sync&User=u", nil)
	hr.Header.Set("User-Agent", "Outlook-iOS/2.0")
	hr.Header.Set("Authorization", basic("jane:pw"))
	got, err := ParseRequest(hr)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("error = %v, want ErrMissing (DeviceId)", err)
	}
	if got.UserAgent != "Outlook-iOS/2.0" || got.User != "jane" {
		t.Errorf("partial request lost headers: %+v", got)
	}
}

func TestNormalizeUser(t *testing.T) {
	tests := []struct{ in, want string }{
		{`CONTOSO\Jane.Doe`, `contoso\jane.doe`},
		{"Jane.Doe@Contoso.COM", "jane.doe@contoso.com"},
		{"  jane ", "jane"},
		{"ÉLODIE@exemple.fr", "élodie@exemple.fr"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := NormalizeUser(tc.in); got != tc.want {
				t.Errorf("NormalizeUser(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	r := &Request{User: `CONTOSO\Jane`}
	if r.UserKey() != `contoso\jane` {
		t.Errorf("UserKey() = %q", r.UserKey())
	}
}

func TestSplitUser(t *testing.T) {
	tests := []struct{ in, account, domain string }{
		{`CONTOSO\jane`, "jane", "CONTOSO"},
		{"jane@contoso.com", "jane", "contoso.com"},
		{`"a@b"@contoso.com`, `"a@b"`, "contoso.com"},
		{"jane", "jane", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, d := SplitUser(tc.in)
			if a != tc.account || d != tc.domain {
				t.Errorf("SplitUser(%q) = %q, %q; want %q, %q", tc.in, a, d, tc.account, tc.domain)
			}
		})
	}
}
