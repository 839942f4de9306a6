package update

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxDatabaseSize bounds the .mmdb extracted from a download, so that a
// hostile or broken archive cannot fill the disk. GeoIP2-City is about
// 130 MB today.
const maxDatabaseSize = 2 << 30

const userAgent = "enforcer-geoip-update/1"

// HTTPError is a response from the update server with a status other than
// 200.
type HTTPError struct {
	URL        string // the request URL; credentials are never in it
	StatusCode int
	Body       string // the start of the response body, on one line
}

// Error implements error, with what to do for the statuses an operator can
// act on.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += "; check AccountID and LicenseKey (GeoIP.conf, GEOIPUPDATE_ACCOUNT_ID, GEOIPUPDATE_LICENSE_KEY)"
	case http.StatusTooManyRequests:
		msg += "; the server limits downloads per day: not retrying, run again later"
	case http.StatusNotFound:
		msg += "; check EditionIDs and that the account may download this edition"
	}
	return msg
}

// endsRun reports whether err must stop the whole run rather than one
// edition: bad credentials and rate limits apply to every edition.
func endsRun(err error) bool {
	var he *HTTPError
	if !errors.As(err, &he) {
		return false
	}
	switch he.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return true
	}
	return false
}

// transientError marks an error worth retrying: the network failed or the
// server had a 5xx moment. Everything else (4xx, bad archives, checksum
// mismatches, databases that do not open) is permanent: the same request
// would get the same answer.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error) error { return &transientError{err} }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// client speaks MaxMind's update protocol (as geoipupdate v7+ does): a
// metadata query per edition that returns the current file's MD5 and date,
// then a download of that date's tar.gz. Both use HTTP basic auth with the
// account ID and license key.
type client struct {
	http       *http.Client
	host       string // base URL, no trailing slash
	accountID  int
	licenseKey string
}

// remoteDB is what the metadata endpoint says about an edition.
type remoteDB struct {
	MD5  string // of the .mmdb inside the archive
	Date string // YYYY-MM-DD, names the release to download
}

var (
	md5RE  = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// metadata asks for the current release of edition:
// GET /geoip/updates/metadata?edition_id=E answers
// {"databases":[{"edition_id":E,"md5":...,"date":"YYYY-MM-DD"}]}.
func (c *client) metadata(ctx context.Context, edition string) (remoteDB, error) {
	u := c.host + "/geoip/updates/metadata?" + url.Values{"edition_id": {edition}}.Encode()
	resp, err := c.get(ctx, u)
	if err != nil {
		return remoteDB{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return remoteDB{}, transient(fmt.Errorf("read metadata from %s: %w", u, err))
	}
	var m struct {
		Databases []struct {
			EditionID string `json:"edition_id"`
			MD5       string `json:"md5"`
			Date      string `json:"date"`
		} `json:"databases"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return remoteDB{}, fmt.Errorf("metadata from %s is not the expected JSON: %w", u, err)
	}
	if len(m.Databases) != 1 || (m.Databases[0].EditionID != "" && m.Databases[0].EditionID != edition) {
		return remoteDB{}, fmt.Errorf("metadata from %s does not describe edition %s", u, edition)
	}
	d := m.Databases[0]
	if !md5RE.MatchString(d.MD5) || !dateRE.MatchString(d.Date) {
		return remoteDB{}, fmt.Errorf("metadata from %s has md5 %q and date %q, want 32 hex digits and YYYY-MM-DD", u, d.MD5, d.Date)
	}
	return remoteDB{MD5: strings.ToLower(d.MD5), Date: d.Date}, nil
}

// download fetches the release of edition dated date
// (GET /geoip/databases/E/download?date=YYYYMMDD&suffix=tar.gz) and writes
// the .mmdb it holds to w. It returns the server's Last-Modified time, zero
// if absent.
func (c *client) download(ctx context.Context, edition, date string, w io.Writer) (time.Time, error) {
	u := c.host + "/geoip/databases/" + url.PathEscape(edition) + "/download?" +
		url.Values{"date": {strings.ReplaceAll(date, "-", "")}, "suffix": {"tar.gz"}}.Encode()
	resp, err := c.get(ctx, u)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	body := &watchedReader{r: resp.Body}
	// A failure while reading the body is the network's (retry); a failure
	// of gzip or tar on a body that arrived whole is the archive's (don't).
	fail := func(what string, err error) (time.Time, error) {
		err = fmt.Errorf("download %s from %s: %s: %w", edition, u, what, err)
		if body.err != nil {
			return time.Time{}, transient(err)
		}
		return time.Time{}, err
	}
	gz, err := gzip.NewReader(body)
	if err != nil {
		return fail("not a gzip archive", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return time.Time{}, fmt.Errorf("download %s from %s: the archive holds no .mmdb file", edition, u)
		}
		if err != nil {
			return fail("corrupt tar archive", err)
		}
		if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, ".mmdb") {
			break
		}
	}
	n, err := io.Copy(w, io.LimitReader(tr, maxDatabaseSize+1))
	if err != nil {
		return fail("corrupt or truncated archive", err)
	}
	if n > maxDatabaseSize {
		return time.Time{}, fmt.Errorf("download %s from %s: the database is larger than %d bytes", edition, u, maxDatabaseSize)
	}
	lastModified, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return lastModified, nil
}

// get sends an authenticated GET and returns a 200 response; the caller
// closes its body.
func (c *client) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", u, err)
	}
	req.SetBasicAuth(strconv.Itoa(c.accountID), c.licenseKey)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, transient(err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	he := &HTTPError{URL: u, StatusCode: resp.StatusCode, Body: oneLine(string(b), 200)}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout {
		return nil, transient(he)
	}
	return nil, he
}

// oneLine makes s printable on one line of at most n runes: the body of an
// error response ends up in cron mail and logs.
func oneLine(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		if b.Len() >= n {
			b.WriteString("...")
			break
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// watchedReader remembers the first error other than io.EOF from r.
type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}
