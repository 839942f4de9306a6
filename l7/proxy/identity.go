package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/mailgate/enforcer/l7/configfile"
	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
)

// Reasons of the identity step, which runs before any policy: a request
// whose user the gateway cannot establish from its credentials is not
// decided on. Stable codes, like the device package's: never rename one.
const (
	// ReasonUnidentified blocks an ActiveSync request whose credentials
	// name no user the gateway can read (Negotiate, Bearer, no
	// Authorization, a client certificate without the configured name)
	// while TrustQueryUser is off: the query's User is the client's own
	// claim.
	ReasonUnidentified device.Reason = "identity.unidentified"
	// ReasonUserConflict blocks a request whose credentials and claimed
	// user disagree: Basic credentials, the client certificate or the
	// query's User naming different accounts (see [eas.SameUser]).
	ReasonUserConflict device.Reason = "identity.user_conflict"
)

// Client certificate modes ([Config.ClientCertMode]).
const (
	// ClientCertOff asks no certificate (default).
	ClientCertOff = "off"
	// ClientCertOptional asks for one and verifies it against ClientCAFile
	// when given; a client without one authenticates with its
	// Authorization header as before, an untrusted one fails the TLS
	// handshake.
	ClientCertOptional = "optional"
	// ClientCertRequire refuses the TLS handshake without a certificate
	// ClientCAFile verifies.
	ClientCertRequire = "require"
)

// Client certificate user sources ([Config.ClientCertUser]).
const (
	// CertUserUPN takes the user from the certificate's User Principal
	// Name, the subjectAltName otherName 1.3.6.1.4.1.311.20.2.3 Active
	// Directory certificate templates carry (default).
	CertUserUPN = "upn"
	// CertUserCN takes the user from the subject's common name.
	CertUserCN = "cn"
	// CertUserUPNOrCN takes the UPN, else the common name.
	CertUserUPNOrCN = "upn_or_cn"
)

// oidSubjectAltName and oidUPN: the subjectAltName extension (RFC 5280
// section 4.2.1.6) and Microsoft's UPN otherName type.
var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidUPN            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

// maxCertUserLen bounds a user name taken from a certificate.
const maxCertUserLen = 256

// certUPN returns the first UPN otherName of a certificate's
// subjectAltName, "" when it has none or it is not a valid UTF8String.
// The certificate has been verified against ClientCAFile, but its
// extensions are still parsed defensively.
func certUPN(c *x509.Certificate) string {
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidSubjectAltName) {
			return upnFromSAN(ext.Value)
		}
	}
	return ""
}

// upnFromSAN reads GeneralNames (RFC 5280: SEQUENCE OF GeneralName;
// otherName is [0] IMPLICIT SEQUENCE { type-id OID, value [0] EXPLICIT
// ANY }) and returns the first UPN.
func upnFromSAN(der []byte) string {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 ||
		seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return ""
	}
	names := seq.Bytes
	for len(names) > 0 {
		var gn asn1.RawValue
		var err error
		if names, err = asn1.Unmarshal(names, &gn); err != nil {
			return ""
		}
		if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 || !gn.IsCompound {
			continue
		}
		var oid asn1.ObjectIdentifier
		val, err := asn1.Unmarshal(gn.Bytes, &oid)
		if err != nil || !oid.Equal(oidUPN) {
			continue
		}
		var explicit asn1.RawValue
		if rest, err := asn1.Unmarshal(val, &explicit); err != nil || len(rest) != 0 ||
			explicit.Class != asn1.ClassContextSpecific || explicit.Tag != 0 || !explicit.IsCompound {
			return ""
		}
		var s asn1.RawValue
		if rest, err := asn1.Unmarshal(explicit.Bytes, &s); err != nil || len(rest) != 0 ||
			s.Class != asn1.ClassUniversal || s.Tag != asn1.TagUTF8String {
			return ""
		}
		return certName(string(s.Bytes))
	}
	return ""
}

// certName accepts a user name from a certificate: valid UTF-8, bounded,
// without control characters or the ':' a Basic user cannot hold.
func certName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxCertUserLen || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ':' {
			return ""
		}
	}
	return s
}

// certUser returns the user of the request's verified client certificate
// under the configured source, "" when there is none. Only a chain Go
// verified against ClientCAFile counts: with ClientCertOptional an
// unverified certificate never gets this far (the handshake fails), and
// without ClientCAFile no certificate is asked for.
func (p *Proxy) certUser(r *http.Request) (user string, presented bool) {
	if p.clientCAs == nil || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return "", false
	}
	c := r.TLS.PeerCertificates[0]
	switch p.cfg.ClientCertUser {
	case CertUserCN:
		return certName(c.Subject.CommonName), true
	case CertUserUPNOrCN:
		if u := certUPN(c); u != "" {
			return u, true
		}
		return certName(c.Subject.CommonName), true
	}
	return certUPN(c), true
}

// identity is the user a request's credentials establish.
type identity struct {
	user string
	// reason is set when the request must be refused before any policy
	// (ReasonUnidentified, ReasonUserConflict).
	reason device.Reason
}

// resolveUser establishes the user of a request from the verified client
// certificate, the Basic credentials (basicUser) and the user the request
// claims (claimed: the EAS query's User, "" for EWS):
//
//   - every name present must name the same account ([eas.SameUser]),
//     else ReasonUserConflict;
//   - the certificate's user, else Basic's, is the user;
//   - with neither, the claimed user only when TrustQueryUser is set,
//     else ReasonUnidentified.
func (p *Proxy) resolveUser(r *http.Request, basicUser, claimed string) identity {
	certUser, presented := p.certUser(r)
	if presented && certUser == "" {
		// A verified certificate without the configured name: refuse
		// rather than fall back to what the client says.
		return identity{reason: ReasonUnidentified}
	}
	cred := certUser
	if cred == "" {
		cred = basicUser
	} else if basicUser != "" && !eas.SameUser(certUser, basicUser) {
		return identity{user: certUser, reason: ReasonUserConflict}
	}
	switch {
	case cred == "" && p.cfg.TrustQueryUser && claimed != "":
		return identity{user: claimed}
	case cred == "":
		return identity{reason: ReasonUnidentified}
	case claimed != "" && !eas.SameUser(cred, claimed):
		return identity{user: cred, reason: ReasonUserConflict}
	}
	return identity{user: cred}
}

// identityDecision is the decision of a request refused at the identity
// step. Test mode does not lift it: it is not a policy being tried out.
func identityDecision(reason device.Reason) device.Decision {
	return device.Decision{Action: device.Block, Intended: device.Block, Reason: reason, Rule: "identity"}
}

// loadClientCAs reads the client CA bundle.
func loadClientCAs(file string) (*x509.CertPool, error) {
	b, err := configfile.ReadLinked(file, configfile.MaxPEMBytes)
	if err != nil {
		return nil, fmt.Errorf("proxy: client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("proxy: client CA file %s: no PEM certificate: %w", file, errNoPEM)
	}
	return pool, nil
}

var errNoPEM = errors.New("no certificate found")

// clientAuth is the tls.ClientAuthType of the configured mode.
func (p *Proxy) clientAuth() tls.ClientAuthType {
	switch p.cfg.ClientCertMode {
	case ClientCertOptional:
		return tls.VerifyClientCertIfGiven
	case ClientCertRequire:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// identityErr says in the log why a request was refused at the identity
// step (the scheme only, never credentials).
func identityErr(reason device.Reason, scheme, claimed string) error {
	if scheme == "" {
		scheme = "none"
	}
	if reason == ReasonUserConflict {
		return fmt.Errorf("credentials (%s) do not name the claimed user %q", scheme, claimed)
	}
	return fmt.Errorf("credentials (%s) name no user the gateway can read; claimed user %q", scheme, claimed)
}
