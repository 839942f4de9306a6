package update

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// mustConfFile writes content to a GeoIP.conf in a temporary directory.
func mustConfFile(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "GeoIP.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

const minimalConf = "AccountID 42\nLicenseKey secret\nEditionIDs GeoLite2-Country\n"

func TestLoadConfigDefaults(t *testing.T) {
	path := mustConfFile(t, minimalConf)
	got, err := LoadConfig(path, envMap(nil), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		AccountID:         42,
		LicenseKey:        "secret",
		EditionIDs:        []string{"GeoLite2-Country"},
		DatabaseDirectory: DefaultDatabaseDirectory,
		Host:              DefaultHost,
		LockFile:          filepath.Join(DefaultDatabaseDirectory, LockFileName),
		RetryFor:          DefaultRetryFor,
		Parallelism:       1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
}

// TestLoadConfigPrecedence checks defaults < file < environment < flags.
func TestLoadConfigPrecedence(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-key-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := mustConfFile(t, `# a comment, then settings with odd spacing
UserId 7
LicenseKey   from-file
ProductIds GeoLite2-Country   GeoLite2-City
DatabaseDirectory /file/dir
Host updates.example.test
Proxy proxy.example.test
ProxyUserPassword alice:s3cret:with-colon
RetryFor 90s
PreserveFileTimes 1
Parallelism 2
Protocol https
SkipPeerVerification 0
SkipHostnameVerification 0
`)
	env := map[string]string{
		"GEOIPUPDATE_ACCOUNT_ID":       "8",
		"GEOIPUPDATE_LICENSE_KEY":      "from-env",
		"GEOIPUPDATE_LICENSE_KEY_FILE": keyFile, // wins over the plain variable
		"GEOIPUPDATE_DB_DIR":           "/env/dir",
		"GEOIPUPDATE_LOCK_FILE":        "/run/geo.lock",
		"GEOIPUPDATE_RETRY_FOR":        "0",
		"GEOIPUPDATE_VERBOSE":          "0",
	}
	got, err := LoadConfig(path, envMap(env), Overrides{DatabaseDirectory: "/flag/dir", Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		AccountID:         8,
		LicenseKey:        "from-key-file",
		EditionIDs:        []string{"GeoLite2-Country", "GeoLite2-City"},
		DatabaseDirectory: "/flag/dir",
		Host:              "https://updates.example.test",
		Proxy:             &url.URL{Scheme: "http", Host: "proxy.example.test:1080", User: url.UserPassword("alice", "s3cret:with-colon")},
		LockFile:          "/run/geo.lock",
		RetryFor:          0,
		PreserveFileTimes: true,
		Parallelism:       2,
		Verbose:           true,
	}
	if diff := cmp.Diff(want, got, urlComparer); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
}

// urlComparer compares URLs by their string form: url.Userinfo hides its
// fields.
var urlComparer = cmp.Comparer(func(a, b *url.URL) bool { return a.String() == b.String() })

func TestLoadConfigEnvOnly(t *testing.T) {
	idFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(idFile, []byte(" 99 \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig("", envMap(map[string]string{
		"GEOIPUPDATE_ACCOUNT_ID_FILE":     idFile,
		"GEOIPUPDATE_LICENSE_KEY":         "k",
		"GEOIPUPDATE_EDITION_IDS":         "GeoLite2-Country",
		"GEOIPUPDATE_HOST":                "http://127.0.0.1:8080/",
		"GEOIPUPDATE_PROXY":               "socks5://10.9.8.7:1081",
		"GEOIPUPDATE_PROXY_USER_PASSWORD": "u:p",
		"GEOIPUPDATE_PRESERVE_FILE_TIMES": "1",
		"GEOIPUPDATE_PARALLELISM":         "3",
		"GEOIPUPDATE_VERBOSE":             "1",
	}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountID != 99 || got.Host != "http://127.0.0.1:8080" || got.Proxy.String() != "socks5://u:p@10.9.8.7:1081" ||
		!got.PreserveFileTimes || got.Parallelism != 3 || !got.Verbose {
		t.Errorf("LoadConfig = %+v", got)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string // "" for no file
		env  map[string]string
		want string // the message after "<file>:" (with line) or the whole message
	}{
		{name: "unknown setting", conf: minimalConf + "Colour blue\n",
			want: `:4: unknown setting "Colour"; see GeoIP.conf(5)`},
		{name: "duplicate", conf: minimalConf + "LicenseKey other\n",
			want: ":4: LicenseKey is set again (first set on line 2); keep one"},
		{name: "old and new name", conf: "UserId 1\n" + minimalConf,
			want: ":2: AccountID is set again (first set on line 1)"},
		{name: "setting without value", conf: "AccountID 42\nLicenseKey\n",
			want: `:2: "LicenseKey" has no value`},
		{name: "account id not a number", conf: "AccountID 4x2\n",
			want: `:1: AccountID "4x2" is not a positive number`},
		{name: "bad edition", conf: "EditionIDs GeoLite2-Country ../../etc/passwd\n",
			want: `:1: edition ID "../../etc/passwd" may only hold letters, digits and dashes`},
		{name: "bad duration", conf: minimalConf + "\n\nRetryFor forever\n",
			want: `:6: RetryFor "forever" is not a duration`},
		{name: "negative duration", conf: "RetryFor -1s\n", want: `:1: RetryFor "-1s" is not a duration`},
		{name: "bad preserve", conf: "PreserveFileTimes yes\n", want: ":1: PreserveFileTimes must be 0 or 1"},
		{name: "bad parallelism", conf: "Parallelism 0\n", want: ":1: Parallelism must be a number above 0"},
		{name: "bad host", conf: "Host ftp://example.test\n", want: `:1: Host "ftp://example.test": scheme "ftp"`},
		{name: "bad proxy", conf: "Proxy ftp://example.test\n", want: `:1: Proxy "ftp://example.test": proxy scheme "ftp"`},
		{name: "bad proxy user", conf: "ProxyUserPassword alice\n", want: ":1: ProxyUserPassword must be user:password"},
		{name: "missing account", conf: "LicenseKey k\nEditionIDs GeoLite2-Country\n",
			want: ": AccountID is not set; set AccountID in "},
		{name: "missing license", conf: "AccountID 1\nEditionIDs GeoLite2-Country\n",
			want: ": LicenseKey is not set"},
		{name: "missing editions", conf: "AccountID 1\nLicenseKey k\n",
			want: ": EditionIDs is not set"},
		{name: "old free credentials", conf: "AccountID 999999\nLicenseKey 000000000000\nEditionIDs GeoLite2-Country\n",
			want: ":2: AccountID 999999 with LicenseKey 000000000000 no longer works"},
		{name: "env bad duration", conf: minimalConf, env: map[string]string{"GEOIPUPDATE_RETRY_FOR": "soon"},
			want: `environment variable GEOIPUPDATE_RETRY_FOR: RetryFor "soon" is not a duration`},
		{name: "env bad verbose", conf: minimalConf, env: map[string]string{"GEOIPUPDATE_VERBOSE": "true"},
			want: `environment variable GEOIPUPDATE_VERBOSE: must be 0 or 1, not "true"`},
		{name: "env unreadable key file", conf: minimalConf, env: map[string]string{"GEOIPUPDATE_LICENSE_KEY_FILE": "/nonexistent/key"},
			want: "environment variable GEOIPUPDATE_LICENSE_KEY_FILE: cannot read /nonexistent/key"},
		{name: "env only, missing account", env: map[string]string{"GEOIPUPDATE_LICENSE_KEY": "k"},
			want: "geoip update configuration: AccountID is not set; set AccountID in the environment or GEOIPUPDATE_ACCOUNT_ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.conf != "" {
				path = mustConfFile(t, tc.conf)
			}
			_, err := LoadConfig(path, envMap(tc.env), Overrides{})
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			if _, ok := err.(*ConfigError); !ok {
				t.Errorf("error is %T, want *ConfigError", err)
			}
			want := tc.want
			if strings.HasPrefix(want, ":") {
				want = path + want
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %s\ndoes not contain\n  %s", err, want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoIP.conf")
	_, err := LoadConfig(path, envMap(nil), Overrides{})
	if err == nil || !strings.Contains(err.Error(), path+": cannot read configuration") {
		t.Errorf("error %v, want one naming %s", err, path)
	}
}

func TestLoadConfigRetryForDefault(t *testing.T) {
	c, err := LoadConfig(mustConfFile(t, minimalConf+"RetryFor 1m30s\n"), envMap(nil), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.RetryFor != 90*time.Second {
		t.Errorf("RetryFor = %v, want 1m30s", c.RetryFor)
	}
}
