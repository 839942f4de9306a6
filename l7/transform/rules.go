package transform

import (
	"io"
	"net/textproto"
	"strings"
	"sync"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
	"github.com/mailgate/enforcer/l7/transform/mime"
)

// Rules are the configured email security, compiled: the source of each
// request's [Plan]. A nil *Rules (transforms off) plans nothing.
type Rules struct {
	// Links rewrites links for the secure browser; nil: off.
	Links *links.Rewriter
	// LinksUnmanaged applies Links to unmanaged devices too (which have no
	// managed secure browser, so it is off by default).
	LinksUnmanaged bool
	// Classifier blocks classified mail for unapproved clients; nil: off.
	Classifier *classify.Classifier
	// Attachments is the attachment policy; nil: every attachment allowed.
	Attachments *attach.Policy
	// Master derives the device-user keys of encrypted attachments;
	// required when the policy encrypts.
	Master *attach.Master
	// SMIMEPassThrough leaves signed and encrypted mail untouched.
	SMIMEPassThrough bool

	refs *refMemory
}

// ShareMemory makes r remember attachment decisions (by file reference,
// for the download) in old's memory, so that a reload keeps them; with
// old nil or without one, r gets a memory of its own. Without a memory,
// downloads are decided by name and content type alone.
func (r *Rules) ShareMemory(old *Rules) {
	if old != nil && old.refs != nil {
		r.refs = old.refs
		return
	}
	r.refs = &refMemory{}
}

// Who is the device and user a response goes to.
type Who struct {
	Managed   bool
	DeviceID  string
	User      string
	UserAgent string
}

// Plan returns what applies to a response for who; nil when nothing does.
func (r *Rules) Plan(who Who) *Plan {
	if r == nil {
		return nil
	}
	p := &Plan{SMIMEPassThrough: r.SMIMEPassThrough}
	var mo mime.Options
	mo.TransformSMIME = !r.SMIMEPassThrough
	if r.Links != nil && (who.Managed || r.LinksUnmanaged) {
		p.HTML, p.Text = r.Links.HTML, r.Links.Text
		mo.Text = func(subtype string, body []byte) ([]byte, int) {
			if strings.EqualFold(subtype, "html") {
				return r.Links.HTML(body)
			}
			return r.Links.Text(body)
		}
	}
	if c := r.Classifier; c != nil {
		p.Classify = func(subject string) (bool, []byte) {
			d := c.Decide(c.Tags(subject, nil), who.UserAgent)
			if !d.Block {
				return false, nil
			}
			return true, c.Notice(d, subject, who.UserAgent)
		}
		mo.Classify = func(subject string, h textproto.MIMEHeader) (bool, []byte) {
			d := c.Decide(c.Tags(subject, h), who.UserAgent)
			if !d.Block {
				return false, nil
			}
			return true, c.Notice(d, subject, who.UserAgent)
		}
	}
	if pol := r.Attachments; pol != nil {
		p.Attachment = func(name, ct string) attach.Action { return pol.Decide(who.Managed, name, ct) }
		mo.Attachment = p.Attachment
		p.BlockedNotice, mo.BlockedNotice = pol.Notice(), pol.Notice()
		if r.Master != nil {
			key := r.Master.Key(who.DeviceID, who.User)
			p.Encrypt = func(w io.Writer) (io.WriteCloser, error) { return attach.NewEncrypter(w, key) }
			p.EncryptedSize = attach.EncryptedSize
			mo.Encrypt = p.Encrypt
		} else {
			// Without a key, "encrypt" cannot be honoured: block instead.
			p.Attachment = func(name, ct string) attach.Action {
				if a := pol.Decide(who.Managed, name, ct); a != attach.Encrypt {
					return a
				}
				return attach.Block
			}
			mo.Attachment = p.Attachment
		}
		if mem := r.refs; mem != nil {
			dev := refKey(who.DeviceID, "")
			p.Remember = func(ref string, a attach.Action) { mem.remember(dev+ref, a) }
			p.Decided = func(ref string) (attach.Action, bool) { return mem.lookup(dev + ref) }
		}
	}
	if mo.Text != nil || mo.Attachment != nil || mo.Classify != nil {
		p.MIME = func(w io.Writer, src io.Reader) (MIMEReport, error) {
			rep, err := mime.Transform(w, src, mo)
			return MIMEReport{LinksChanged: rep.LinksChanged, AttachmentsBlocked: rep.AttachmentsBlocked,
				AttachmentsEncrypted: rep.AttachmentsEncrypted, Blocked: rep.Blocked, SMIME: rep.SMIME, Changed: rep.Changed}, err
		}
	}
	if !p.Active() {
		return nil
	}
	return p
}

func refKey(deviceID, ref string) string {
	return strings.ToLower(deviceID) + "\x00" + ref
}

// refMemory remembers attachment decisions by device and file reference,
// so that a download gets the decision its listing got. Bounded: when
// full, the oldest half is forgotten (a forgotten reference is decided
// again by name and type at download).
type refMemory struct {
	mu    sync.Mutex
	m     map[string]attach.Action
	order []string
}

const maxRefs = 1 << 20

func (rm *refMemory) remember(k string, a attach.Action) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.m == nil {
		rm.m = map[string]attach.Action{}
	}
	if _, ok := rm.m[k]; !ok {
		rm.order = append(rm.order, k)
	}
	rm.m[k] = a
	if len(rm.order) > maxRefs {
		half := len(rm.order) / 2
		for _, old := range rm.order[:half] {
			delete(rm.m, old)
		}
		rm.order = append(rm.order[:0:0], rm.order[half:]...)
	}
}

func (rm *refMemory) lookup(k string) (attach.Action, bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	a, ok := rm.m[k]
	return a, ok
}
