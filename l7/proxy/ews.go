package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
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
	// ReasonEWSTransformPlan refuses an EWS operation that returns item
	// content or attachments (or one the gateway cannot read) from a
	// user and client under an email security plan.
	ReasonEWSTransformPlan device.Reason = "ews.transform_plan"
)

// Reasons returns the reason codes the proxy adds to the device package's
// ([device.Reasons]).
func Reasons() []device.Reason {
	return []device.Reason{ReasonEWSNoAllowedDevice, ReasonEWSUnidentified, ReasonEWSPolicyError, ReasonEWSTransformPlan,
		ReasonUnidentified, ReasonUserConflict}
}

// serveEWS applies the EWS rule (see the package documentation) and
// proxies or refuses the request.
func (p *Proxy) serveEWS(w *responseWriter, r *http.Request, tx *txn) {
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		tx.err = fmt.Errorf("%d Authorization headers", len(auth))
		writeError(w, http.StatusBadRequest, nil)
		return
	}
	if uas := r.Header.Values("User-Agent"); len(uas) > 1 {
		tx.err = fmt.Errorf("%d User-Agent headers", len(uas))
		writeError(w, http.StatusBadRequest, nil)
		return
	}
	tx.userAgent = r.Header.Get("User-Agent")
	_, hasCert := p.certUser(r)
	if len(auth) == 0 && !hasCert {
		// Challenge for the one scheme whose user the gateway can read,
		// without troubling the mail server.
		tx.err = errorString("no credentials")
		writeError(w, http.StatusUnauthorized, http.Header{"Www-Authenticate": {`Basic realm="` + realm(r.Host) + `", charset="UTF-8"`}})
		return
	}
	var basic string
	if len(auth) == 1 {
		if _, _, ok := eas.ParseAuthorization(auth[0]); !ok {
			tx.err = errorString("malformed Authorization header")
			writeError(w, http.StatusBadRequest, nil)
			return
		}
		u, isBasic, err := eas.BasicAuthUser(auth[0])
		if isBasic && err != nil {
			tx.err = errorString("malformed Basic credentials")
			writeError(w, http.StatusBadRequest, nil)
			return
		}
		basic = u
	}
	now := p.now()
	idn := p.resolveUser(r, basic, "")
	var d device.Decision
	switch {
	case idn.reason == ReasonUnidentified || (idn.user == "" && idn.reason == ""):
		d = device.Decision{Action: device.Block, Intended: device.Block, Reason: ReasonEWSUnidentified}
	case idn.reason != "":
		tx.user = idn.user
		d = identityDecision(idn.reason)
	default:
		tx.user = idn.user
		d = p.decideEWS(device.Identity{User: idn.user, UserAgent: tx.userAgent, SourceIP: tx.src}, now)
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
	if tx.plan = p.planFor(device.Identity{User: tx.user, UserAgent: tx.userAgent}, nil); tx.plan != nil {
		// The transforms read ActiveSync, not SOAP: under a plan the
		// operations that return item bodies, previews or attachments
		// are refused instead (see ewsOperationAllowed).
		// The operation goes to the log in the decision's rule, not in
		// the command (an EAS command code, a metrics label).
		op, err := p.readEWSOperation(w, r)
		switch {
		case err != nil:
			tx.err = fmt.Errorf("EWS under a transform plan: %w", err)
		case !ewsOperationAllowed(op):
			tx.err = fmt.Errorf("EWS operation %s returns item content: refused under a transform plan", op)
		}
		if tx.err != nil {
			tx.blocked = true
			tx.plan = nil // nothing was transformed
			tx.decision = device.Decision{Action: device.Block, Intended: device.Block, Reason: ReasonEWSTransformPlan, Rule: op}
			writeError(w, http.StatusForbidden, nil)
			return
		}
		// Allowed operations carry no mail the transforms would change.
		tx.plan = nil
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

// decideEWS decides whether a user may use EWS with the client of the
// request. First the request as the device engine sees one from a device
// it does not know (no DeviceId, no record): user lists, mail client
// lists, ManagedOnly (which therefore refuses EWS), device type lists
// (an EWS request has no device type), rules, default access. Then some
// device of the user must be allowed to sync by what its record decides
// (see ewsPolicies); when the user has no device record, the question is
// whether a device without a record would be allowed. Test mode applies
// as for EAS.
func (p *Proxy) decideEWS(id device.Identity, now time.Time) device.Decision {
	pol := p.policy()
	user := id.User
	if !pol.Loaded() {
		return device.Decide(id, nil, pol, now)
	}
	if d := device.Decide(id, nil, pol, now); !d.Allowed() || d.TestMode {
		return d
	}
	ep := p.ewsPoliciesFor(pol)
	if ep.err != nil {
		return device.Decision{Action: device.Block, Intended: device.Block, Reason: ReasonEWSPolicyError}
	}
	id = device.Identity{User: user}
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
