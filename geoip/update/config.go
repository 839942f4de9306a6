package update

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults of the settings GeoIP.conf leaves out.
const (
	// DefaultDatabaseDirectory is where databases go without
	// DatabaseDirectory, GEOIPUPDATE_DB_DIR or --database-directory. It is
	// enforcer's state directory, not MaxMind's DATADIR, so that
	// `enforcer geoip lookup` finds GeoLite2-Country.mmdb there by default.
	DefaultDatabaseDirectory = "/var/lib/enforcer"
	// DefaultHost is MaxMind's update server.
	DefaultHost = "https://updates.maxmind.com"
	// DefaultRetryFor bounds the retries of transient errors.
	DefaultRetryFor = 5 * time.Minute
	// LockFileName is the lock file in the database directory when LockFile
	// is not set; the same name geoipupdate uses, so the two never run
	// against one directory at once.
	LockFileName = ".geoipupdate.lock"
)

// Config is the configuration of an update run, in the terms of MaxMind's
// GeoIP.conf (see GeoIP.conf(5) of geoipupdate).
type Config struct {
	// AccountID is the MaxMind account ID (AccountID, formerly UserId).
	// Required.
	AccountID int
	// LicenseKey is the account's license key. Required.
	LicenseKey string
	// EditionIDs are the databases to update, e.g. GeoLite2-Country
	// (EditionIDs, formerly ProductIds). Each is saved as
	// <DatabaseDirectory>/<EditionID>.mmdb. Required.
	EditionIDs []string
	// DatabaseDirectory is where databases are installed; default
	// DefaultDatabaseDirectory.
	DatabaseDirectory string
	// Host is the base URL of the update server; default DefaultHost. A
	// value without a scheme gets https.
	Host string
	// Proxy is the proxy to reach Host through (Proxy, with
	// ProxyUserPassword as its user info); nil uses the http_proxy and
	// https_proxy environment variables, as Go's HTTP client does.
	Proxy *url.URL
	// LockFile is the file locked for the duration of a run; default
	// <DatabaseDirectory>/.geoipupdate.lock.
	LockFile string
	// RetryFor bounds how long transient errors (network, HTTP 5xx) are
	// retried, per edition; 0 tries once. Default DefaultRetryFor.
	RetryFor time.Duration
	// PreserveFileTimes sets an installed file's modification time to the
	// server's Last-Modified; default false.
	PreserveFileTimes bool
	// Parallelism is accepted for compatibility with GeoIP.conf and
	// validated, but editions are downloaded one after another: a gateway
	// updates one or two small databases. Default 1.
	Parallelism int
	// Verbose logs each step; default false.
	Verbose bool
}

// Overrides are the command-line values, which win over the file and the
// environment. Zero fields override nothing.
type Overrides struct {
	DatabaseDirectory string // -d, --database-directory
	Verbose           bool   // -v, --verbose
}

// ConfigError is a configuration error with its origin: a file and line,
// or an environment variable.
type ConfigError struct {
	File string // the configuration file, "" for the environment
	Line int    // 1-based line in File, 0 if the error is about the whole file
	Env  string // the environment variable, if it came from one
	Msg  string
}

// Error implements error.
func (e *ConfigError) Error() string {
	switch {
	case e.Env != "":
		return fmt.Sprintf("environment variable %s: %s", e.Env, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	default:
		return "geoip update configuration: " + e.Msg
	}
}

// editionRE is what an edition ID may be (GeoIP.conf(5): letters, digits
// and dashes). It becomes a file name, so nothing else may pass.
var editionRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// settings collects values from one source before they are checked
// together; proxy and its user info combine only at the end.
type settings struct {
	cfg           Config
	proxy         string
	proxyUserInfo string
	// where records the origin of some values, for messages about them.
	where map[string]*ConfigError
}

// LoadConfig builds the configuration of a run: defaults, then the file at
// path ("" for none), then the GEOIPUPDATE_* environment variables read
// through lookupEnv (os.LookupEnv in production), then o. Errors are
// *ConfigError values naming the file and line or the variable.
func LoadConfig(path string, lookupEnv func(string) (string, bool), o Overrides) (*Config, error) {
	s := &settings{
		cfg: Config{
			DatabaseDirectory: DefaultDatabaseDirectory,
			Host:              DefaultHost,
			RetryFor:          DefaultRetryFor,
			Parallelism:       1,
		},
		where: map[string]*ConfigError{},
	}
	if path != "" {
		if err := s.readFile(path); err != nil {
			return nil, err
		}
	}
	if err := s.readEnv(lookupEnv); err != nil {
		return nil, err
	}
	if o.DatabaseDirectory != "" {
		s.cfg.DatabaseDirectory = filepath.Clean(o.DatabaseDirectory)
	}
	if o.Verbose {
		s.cfg.Verbose = true
	}
	return s.finish(path)
}

func (s *settings) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &ConfigError{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", err)}
	}
	defer f.Close()
	// Old names share their new name's slot, so that AccountID and UserId
	// together count as a duplicate, as in geoipupdate.
	canonical := map[string]string{"UserId": "AccountID", "ProductIds": "EditionIDs"}
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		at := func(format string, args ...any) error {
			return &ConfigError{File: path, Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		if len(fields) < 2 {
			return at("%q has no value; write one setting per line as \"Name value\"", fields[0])
		}
		key, value := fields[0], strings.Join(fields[1:], " ")
		slot := key
		if c, ok := canonical[key]; ok {
			slot = c
		}
		if first, ok := seen[slot]; ok {
			return at("%s is set again (first set on line %d); keep one", key, first)
		}
		seen[slot] = n
		if err := s.set(key, value, &ConfigError{File: path, Line: n}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &ConfigError{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", err)}
	}
	return nil
}

// set applies one GeoIP.conf setting; origin locates it in messages.
func (s *settings) set(key, value string, origin *ConfigError) error {
	bad := func(format string, args ...any) error {
		e := *origin
		e.Msg = fmt.Sprintf(format, args...)
		return &e
	}
	c := &s.cfg
	switch key {
	case "AccountID", "UserId":
		id, err := strconv.Atoi(value)
		if err != nil || id <= 0 {
			return bad("%s %q is not a positive number; copy it from your MaxMind account page", key, value)
		}
		c.AccountID = id
	case "LicenseKey":
		c.LicenseKey = value
	case "EditionIDs", "ProductIds":
		ids := strings.Fields(value)
		for _, id := range ids {
			if !editionRE.MatchString(id) {
				return bad("edition ID %q may only hold letters, digits and dashes (e.g. GeoLite2-Country)", id)
			}
		}
		c.EditionIDs = ids
	case "DatabaseDirectory":
		c.DatabaseDirectory = filepath.Clean(value)
	case "Host":
		u, err := parseHost(value)
		if err != nil {
			return bad("Host %q: %v", value, err)
		}
		c.Host = u
	case "Proxy":
		if _, err := parseProxy(value, ""); err != nil {
			return bad("Proxy %q: %v", value, err)
		}
		s.proxy = value
	case "ProxyUserPassword":
		if !strings.Contains(value, ":") {
			return bad("ProxyUserPassword must be user:password")
		}
		s.proxyUserInfo = value
	case "LockFile":
		c.LockFile = filepath.Clean(value)
	case "RetryFor":
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 {
			return bad("RetryFor %q is not a duration such as 5m or 90s", value)
		}
		c.RetryFor = d
	case "PreserveFileTimes":
		b, ok := zeroOrOne(value)
		if !ok {
			return bad("PreserveFileTimes must be 0 or 1, not %q", value)
		}
		c.PreserveFileTimes = b
	case "Parallelism":
		p, err := strconv.Atoi(value)
		if err != nil || p <= 0 {
			return bad("Parallelism must be a number above 0, not %q", value)
		}
		c.Parallelism = p
	case "Protocol", "SkipHostnameVerification", "SkipPeerVerification":
		// Deprecated by geoipupdate and ignored there too: TLS is always
		// verified and the protocol is always HTTPS (or Host's scheme).
	default:
		return bad("unknown setting %q; see GeoIP.conf(5) for the settings", key)
	}
	s.where[key] = origin
	return nil
}

// envVars maps GEOIPUPDATE_* variables to the setting each overrides, in
// the order geoipupdate applies them (a _FILE variant wins over the plain
// one).
var envVars = []struct {
	name, key string
	file      bool // the variable names a file that holds the value
}{
	{"GEOIPUPDATE_ACCOUNT_ID", "AccountID", false},
	{"GEOIPUPDATE_ACCOUNT_ID_FILE", "AccountID", true},
	{"GEOIPUPDATE_LICENSE_KEY", "LicenseKey", false},
	{"GEOIPUPDATE_LICENSE_KEY_FILE", "LicenseKey", true},
	{"GEOIPUPDATE_EDITION_IDS", "EditionIDs", false},
	{"GEOIPUPDATE_DB_DIR", "DatabaseDirectory", false},
	{"GEOIPUPDATE_HOST", "Host", false},
	{"GEOIPUPDATE_PROXY", "Proxy", false},
	{"GEOIPUPDATE_PROXY_USER_PASSWORD", "ProxyUserPassword", false},
	{"GEOIPUPDATE_LOCK_FILE", "LockFile", false},
	{"GEOIPUPDATE_RETRY_FOR", "RetryFor", false},
	{"GEOIPUPDATE_PRESERVE_FILE_TIMES", "PreserveFileTimes", false},
	{"GEOIPUPDATE_PARALLELISM", "Parallelism", false},
	{"GEOIPUPDATE_VERBOSE", "Verbose", false},
}

func (s *settings) readEnv(lookupEnv func(string) (string, bool)) error {
	if lookupEnv == nil {
		return nil
	}
	for _, v := range envVars {
		value, ok := lookupEnv(v.name)
		if !ok || (value == "" && v.file) {
			continue
		}
		origin := &ConfigError{Env: v.name}
		if v.file {
			b, err := os.ReadFile(value)
			if err != nil {
				origin.Msg = fmt.Sprintf("cannot read %s: %v", value, err)
				return origin
			}
			value = strings.TrimSpace(string(b))
		}
		if v.key == "Verbose" {
			b, ok := zeroOrOne(value)
			if !ok {
				origin.Msg = fmt.Sprintf("must be 0 or 1, not %q", value)
				return origin
			}
			s.cfg.Verbose = b
			continue
		}
		if err := s.set(v.key, value, origin); err != nil {
			return err
		}
	}
	return nil
}

// finish fills the values that depend on others and checks the whole.
func (s *settings) finish(path string) (*Config, error) {
	c := s.cfg
	missing := func(key, env string) error {
		where := "the environment"
		if path != "" {
			where = path
		}
		return &ConfigError{File: path, Msg: fmt.Sprintf("%s is not set; set %s in %s or %s", key, key, where, env)}
	}
	// MaxMind once published 999999 / 000000000000 for free downloads;
	// those no longer work and people still have them.
	if (c.AccountID == 0 || c.AccountID == 999999) && c.LicenseKey == "000000000000" {
		e := *s.origin("LicenseKey", path)
		e.Msg = "AccountID 999999 with LicenseKey 000000000000 no longer works: sign up for a free MaxMind account and use its AccountID and LicenseKey"
		return nil, &e
	}
	switch {
	case c.AccountID == 0:
		return nil, missing("AccountID", "GEOIPUPDATE_ACCOUNT_ID")
	case c.LicenseKey == "":
		return nil, missing("LicenseKey", "GEOIPUPDATE_LICENSE_KEY")
	case len(c.EditionIDs) == 0:
		return nil, missing("EditionIDs", "GEOIPUPDATE_EDITION_IDS")
	}
	if s.proxy != "" {
		u, err := parseProxy(s.proxy, s.proxyUserInfo)
		if err != nil {
			e := *s.origin("Proxy", path)
			e.Msg = fmt.Sprintf("Proxy: %v", err)
			return nil, &e
		}
		c.Proxy = u
	}
	if c.LockFile == "" {
		c.LockFile = filepath.Join(c.DatabaseDirectory, LockFileName)
	}
	return &c, nil
}

func (s *settings) origin(key, path string) *ConfigError {
	if o, ok := s.where[key]; ok {
		return o
	}
	return &ConfigError{File: path}
}

func zeroOrOne(v string) (bool, bool) {
	switch v {
	case "0":
		return false, true
	case "1":
		return true, true
	}
	return false, false
}

func parseHost(v string) (string, error) {
	if !strings.Contains(v, "://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("scheme %q is not https or http", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host name")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// parseProxy reads a proxy as geoipupdate does: a bare host gets http://
// and port 1080 (cURL's historical default); user info in the URL wins
// over ProxyUserPassword.
func parseProxy(proxy, userInfo string) (*url.URL, error) {
	if !strings.Contains(proxy, "://") {
		proxy = "http://" + proxy
	}
	u, err := url.Parse(proxy)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "socks5":
	default:
		return nil, fmt.Errorf("proxy scheme %q is not http, https or socks5", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no proxy host")
	}
	if u.Port() == "" {
		u.Host += ":1080"
	}
	if u.User == nil && userInfo != "" {
		user, pass, _ := strings.Cut(userInfo, ":")
		u.User = url.UserPassword(user, pass)
	}
	return u, nil
}
