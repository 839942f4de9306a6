package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mailgate/enforcer/policy/device"
)

// Reasons of the EWS user rule; EAS decisions carry the device package's
// reasons. Stable codes, like those: never rename one.
const (
	// ReasonEWSNoAllowedDevice blocks an EWS user none of whose devices
	// may sync.
	ReasonEWSNoAllowedDevice device.Reason = "ews.no_allowed_device"
	// ReasonEWSUnidentified blocks an EWS request whose credentials name
	// no user the gateway can read (a scheme other than Basic).
	ReasonEWSUnidentified device.Reason = "ews.user_unidentified"
	// ReasonEWSPolicyError blocks EWS when the policy could not be
	// reduced to its user and record parts (a bug; logged).
	ReasonEWSPolicyError device.Reason = "ews.policy_error"
)

// Reasons returns the reason codes the proxy adds to the device package's
// ([device.Reasons]).
func Reasons() []device.Reason {
	return []device.Reason{ReasonEWSNoAllowedDevice, ReasonEWSUnidentified, ReasonEWSPolicyError}
}

// serveEWS applies the EWS user rule (see the package documentation) and
// proxies or refuses the request.
func (p *Proxy) serveEWS(w *responseWriter, r *http.Request, tx *txn) {
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		tx.err = fmt.Errorf("%d Authorization headers", len(auth))
		writeError(w, http.StatusBadRequest, nil)
		return
	}
	if len(auth) == 0 {
		// Challenge for the one scheme whose user the gateway can read,
		// without troubling the mail server.
		tx.err = errorString("no credentials")
		writeError(w, http.StatusUnauthorized, http.Header{"Www-Authenticate": {`Basic realm="` + realm(r.Host) + `", charset="UTF-8"`}})
		return
	}
	now := p.now()
	user, _, ok := r.BasicAuth()
	if scheme, _, _ := strings.Cut(auth[0], " "); !ok && strings.EqualFold(scheme, "Basic") {
		tx.err = errorString("malformed Basic credentials")
		writeError(w, http.StatusBadRequest, nil)
		return
	}
	var d device.Decision
	switch {
	case !ok || user == "":
		d = device.Decision{Action: device.Block, Intended: device.Block, Reason: ReasonEWSUnidentified}
	default:
		tx.user = user
		d = p.decideEWS(user, now)
	}
	tx.targeted = p.targets.Match(tx.user, "")
	tx.decided, tx.decision = true, d
	if !d.Allowed() {
		tx.blocked = true
		if d.Reason == device.ReasonNoPolicyFailClosed {
			blockResponse{status: http.StatusServiceUnavailable, retryAfter: p.cfg.NoPolicyRetryAfter}.write(w)
			return
		}
		writeError(w, http.StatusForbidden, nil)
		return
	}
	p.forward(w, r, tx, p.upstream, p.cfg.CommandTimeout)
}

type errorString string

func (e errorString) Error() string { return string(e) }

// realm returns the host name for a Basic realm, stripped of characters
// that would end the quoted string.
func realm(host string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, host)
}

// basicUser returns the user of an Authorization: Basic header, or "".
func basicUser(r *http.Request) string {
	u, _, _ := r.BasicAuth()
	return u
}

// ewsPolicies are the policies the EWS rule decides with, derived from one
// policy in force and rebuilt when it changes.
type ewsPolicies struct {
	src *device.Policy
	// users holds the user lists only: is the user allowed at all?
	users *device.Policy
	// records holds what a device's record and its user decide: managed
	// only, the managed-device policies, overrides (in the record), the
	// user lists, ABQ rules on DeviceModel and DeviceOS (which fall back to
	// the record's data), the default access level and test mode. What
	// only an EAS request tells (mail client, EAS device type, rules on
	// DeviceType and UserAgent) is left out: an EWS request does not come
	// from the device.
	records *device.Policy
	err     error
}

func (p *Proxy) ewsPoliciesFor(src *device.Policy) *ewsPolicies {
	if cur := p.ewsPols.Load(); cur != nil && cur.src == src {
		return cur
	}
	cfg := src.Config()
	ep := &ewsPolicies{src: src}
	var err error
	ep.users, err = device.NewPolicy(device.Config{
		Revision: cfg.Revision, AllowedUsers: cfg.AllowedUsers, BlockedUsers: cfg.BlockedUsers, TestMode: cfg.TestMode,
	})
	if err == nil {
		rc := cfg
		rc.AllowedMailClients, rc.BlockedMailClients = nil, nil
		rc.AllowedDeviceTypes, rc.BlockedDeviceTypes = nil, nil
		rc.Rules = nil
		for _, rule := range cfg.Rules {
			if rule.Characteristic == device.DeviceModel || rule.Characteristic == device.DeviceOS {
				rc.Rules = append(rc.Rules, rule)
			}
		}
		ep.records, err = device.NewPolicy(rc)
	}
	if err != nil {
		ep.err = err
		p.log.Error("EWS: deriving the user and record policies failed; EWS fails closed", "err", err)
	}
	p.ewsPols.Store(ep)
	return ep
}

// decideEWS decides whether user may use EWS: the user must pass the user
// lists, and some device of the user must be allowed to sync by what its
// record decides (see ewsPolicies). When the user has no device record,
// the question is whether a device without a record would be allowed
// (ManagedOnly, default access). Test mode applies as for EAS.
func (p *Proxy) decideEWS(user string, now time.Time) device.Decision {
	pol := p.policy()
	id := device.Identity{User: user}
	if !pol.Loaded() {
		return device.Decide(id, nil, pol, now)
	}
	ep := p.ewsPoliciesFor(pol)
	if ep.err != nil {
		return device.Decision{Action: device.Block, Intended: device.Block, Reason: ReasonEWSPolicyError}
	}
	if d := device.Decide(id, nil, ep.users, now); !d.Allowed() || d.TestMode {
		return d
	}
	recs := p.store.ByUser(user)
	if len(recs) == 0 {
		return device.Decide(id, nil, ep.records, now)
	}
	var firstTest device.Decision
	var refused []string
	for _, rec := range recs {
		id.DeviceID = rec.DeviceID
		d := device.Decide(id, rec, ep.records, now)
		switch {
		case d.Allowed() && !d.TestMode:
			return d
		case d.TestMode && firstTest.Action == 0:
			firstTest = d
		}
		if len(refused) < 4 {
			refused = append(refused, rec.DeviceID+"="+string(d.Reason))
		}
	}
	if firstTest.Action != 0 {
		return firstTest
	}
	return device.Decision{Action: device.Block, Intended: device.Block, Reason: ReasonEWSNoAllowedDevice,
		Rule: strings.Join(refused, ",")}
}
