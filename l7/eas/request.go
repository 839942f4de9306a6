package eas

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Request headers of [MS-ASHTTP] section 2.2.1.1.2.
const (
	HeaderProtocolVersion = "MS-ASProtocolVersion"
	HeaderPolicyKey       = "X-MS-PolicyKey"
	HeaderAcceptMultiPart = "MS-ASAcceptMultiPart"
)

// Request is the identity of one EAS request, resolved from its query and
// headers.
type Request struct {
	// Query is the request URI's query as sent.
	Query Query

	Command    Command
	DeviceID   string
	DeviceType string
	// User is the query's User parameter, or AuthUser when the query names
	// none (usual with the base64 form). Kept as sent: DOMAIN\user or
	// user@domain; see [NormalizeUser] for matching.
	User string
	// AuthUser is the user name of an Authorization: Basic header, "" for
	// other schemes. The server authenticates this name, so when it differs
	// from the query's User, policy should trust AuthUser.
	AuthUser string
	// AuthScheme is the auth-scheme of the Authorization header ("Basic",
	// "Bearer", "Negotiate", ... as sent; [ParseAuthorization]), "" when
	// there is none or it is malformed (Parse then returns an error).
	AuthScheme string

	// ProtocolVersion comes from the base64 query, else from the
	// MS-ASProtocolVersion header; zero when neither gives it.
	ProtocolVersion Version
	// PolicyKey comes from the base64 query, else from X-MS-PolicyKey.
	PolicyKey    uint32
	HasPolicyKey bool
	// Locale is the base64 query's locale (an LCID, [MS-LCID]); 0 in the
	// plain form.
	Locale uint16
	// UserAgent identifies the mail client.
	UserAgent string

	SaveInSent bool
	// AcceptMultiPart comes from the base64 Options or the
	// MS-ASAcceptMultiPart: T header ([MS-ASHTTP] 2.2.1.1.2.5).
	AcceptMultiPart bool
}

// UserKey returns the normalised form of r.User for matching.
func (r *Request) UserKey() string { return NormalizeUser(r.User) }

// ParseRequest reads the identity of an EAS request. See [Parse].
func ParseRequest(hr *http.Request) (*Request, error) {
	return Parse(hr.URL, hr.Header)
}

// Parse reads the identity of an EAS request from its URI and headers. On
// error it still returns what it could read (for the transaction log),
// along with the first problem found.
func Parse(u *url.URL, h http.Header) (*Request, error) {
	r := &Request{}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}

	q, err := ParseQuery(u.RawQuery)
	if err != nil {
		keep(err)
	} else {
		r.Query = *q
		r.Command = q.Command
		r.DeviceID = q.DeviceID
		r.DeviceType = q.DeviceType
		r.User = q.User
		r.ProtocolVersion = q.Version
		r.PolicyKey, r.HasPolicyKey = q.PolicyKey, q.HasPolicyKey
		r.Locale = q.Locale
		r.SaveInSent = q.SaveInSent
		r.AcceptMultiPart = q.AcceptMultiPart
	}

	if v, err := singleHeader(h, "User-Agent"); err != nil {
		keep(err)
	} else {
		r.UserAgent = v
	}

	if v, err := singleHeader(h, "Authorization"); err != nil {
		keep(err)
	} else if v != "" {
		scheme, _, ok := ParseAuthorization(v)
		if !ok {
			// "Basic\t<credentials>", a bare token: not a scheme the
			// gateway or the mail server can be trusted to read alike.
			keep(fieldErr("Authorization", ErrBadAuthorization, "no auth-scheme followed by a space (RFC 9110 section 11.4)"))
		} else {
			r.AuthScheme = scheme
			user, _, err := BasicAuthUser(v)
			if err != nil {
				keep(err)
			}
			r.AuthUser = user
		}
	}
	if r.User == "" {
		r.User = r.AuthUser
	}

	// The base64 form carries version and policy key itself; the headers
	// "SHOULD NOT be used" with it (2.2.1.1.2.6, 2.2.1.1.2.8) and lose when
	// both are present.
	if v, err := singleHeader(h, HeaderProtocolVersion); err != nil {
		keep(err)
	} else if v != "" && r.ProtocolVersion.IsZero() {
		ver, err := ParseVersion(strings.TrimSpace(v))
		if err != nil {
			keep(fieldErr(HeaderProtocolVersion, ErrBadValue, "%q", v))
		} else {
			r.ProtocolVersion = ver
		}
	}
	if v, err := singleHeader(h, HeaderPolicyKey); err != nil {
		keep(err)
	} else if v != "" && !r.HasPolicyKey {
		// The policy key is a 32-bit unsigned integer ([MS-ASPROV] 2.2.2.42).
		pk, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			keep(fieldErr(HeaderPolicyKey, ErrBadValue, "%q, want a 32-bit unsigned integer", v))
		} else {
			r.PolicyKey, r.HasPolicyKey = uint32(pk), true
		}
	}
	if v, err := singleHeader(h, HeaderAcceptMultiPart); err != nil {
		keep(err)
	} else if strings.EqualFold(strings.TrimSpace(v), "T") {
		r.AcceptMultiPart = true
	}
	return r, first
}

// singleHeader returns the value of a header that must appear at most once.
func singleHeader(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", fieldErr(name, ErrDuplicate, "%d values", len(vs))
}

// NormalizeUser returns the key under which a user name is matched: trimmed
// and case-folded, keeping its DOMAIN\user or user@domain form, since
// Windows account and domain names are case-insensitive.
func NormalizeUser(u string) string {
	return strings.ToLower(strings.TrimSpace(u))
}

// SplitUser separates a user name into account and domain: "CONTOSO\jane"
// and "jane@contoso.com" both give ("jane", domain); a bare name gives
// ("jane", "").
func SplitUser(u string) (account, domain string) {
	if d, a, ok := strings.Cut(u, `\`); ok {
		return a, d
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		return u[:i], u[i+1:]
	}
	return u, ""
}
