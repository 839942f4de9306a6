package transform

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/textproto"
	"slices"
	"strings"
	"sync"

	"github.com/mailgate/enforcer/l7/eas"
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
	// SMIMEPassThrough keeps S/MIME signatures intact: signed MIME
	// content is sent on byte for byte or, when an attachment in it
	// would be blocked or encrypted, replaced whole by the notice;
	// encrypted S/MIME passes when the unknown rule allows, else is
	// replaced. Without it S/MIME is transformed like any mail. See the
	// package doc.
	SMIMEPassThrough bool

	refs *refMemory
}

// ShareMemory makes r remember attachment listings (by user, device and
// file reference, for the download) in old's memory, so that a reload
// keeps them; with old nil or without one, r gets a memory of its own.
// Remembered are names and types, not decisions: a download is decided
// under the rules in force when it is asked for. Without a memory, every
// download gets the unknown rule ([Plan.Unknown]).
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
	p := &Plan{}
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
		p.Unknown = pol.Unknown(who.Managed)
		if p.Unknown == attach.Encrypt && r.Master == nil {
			p.Unknown = attach.Block
		}
		mo.Opaque = p.Unknown
		if mem := r.refs; mem != nil {
			p.Remember = func(ref string, l Listing) {
				if k, ok := refKey(who, ref); ok {
					mem.remember(k, l)
				}
			}
			p.Listed = func(ref string) ([]Listing, bool) {
				k, ok := refKey(who, ref)
				if !ok {
					return nil, false
				}
				return mem.lookup(k)
			}
		}
	}
	if mo.Text != nil || mo.Attachment != nil || mo.Classify != nil {
		p.MIME = func(w io.Writer, src io.Reader) (MIMEReport, error) {
			rep, err := mime.Transform(w, src, mo)
			return MIMEReport{LinksChanged: rep.LinksChanged, AttachmentsBlocked: rep.AttachmentsBlocked,
				AttachmentsEncrypted: rep.AttachmentsEncrypted, Blocked: rep.Blocked, SMIME: rep.SMIME, SMIMEBlocked: rep.SMIMEBlocked, Changed: rep.Changed}, err
		}
	}
	if !p.Active() {
		return nil
	}
	return p
}

// refKey is the memory's key of a file reference listed to who: the
// user, the device and the reference's canonical form
// ([eas.FileReferenceKey]), hashed so that an entry's size does not
// depend on what the mail server put in a reference. A reference listed
// to one user or device is unknown to every other.
func refKey(who Who, ref string) (refID, bool) {
	canon, ok := eas.FileReferenceKey(ref)
	if !ok {
		return refID{}, false
	}
	h := sha256.New()
	for _, s := range []string{eas.NormalizeUser(who.User), strings.ToLower(who.DeviceID), canon} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	var id refID
	copy(id[:], h.Sum(nil))
	return id, true
}

// refID is a hashed reference key; 128 bits keep accidental collisions
// out of reach for any number of entries the memory holds.
type refID [16]byte

// refMemory remembers, per user, device and canonical file reference,
// what the attachment lists said of an attachment (its name and type), so
// that a download is decided as its listing is under the rules in force
// when it is asked for. Bounded: when full, the oldest half is forgotten;
// a forgotten reference, like one never listed (or listed before the
// gateway started), gets the unknown rule ([Plan.Unknown]).
type refMemory struct {
	mu    sync.Mutex
	m     map[refID][]Listing
	order []refID
	max   int // default maxRefs
}

// maxRefs bounds the memory: about 100 bytes an entry.
const maxRefs = 1 << 19

// maxListings bounds the listings one key holds: more different names
// under one key than this, and the key is ambiguous (unknown rule).
const maxListings = 4

func (rm *refMemory) remember(k refID, l Listing) {
	if len(l.Name) > maxListedName {
		// The extension is what the rules look at: keep the end.
		l.Name = l.Name[len(l.Name)-maxListedName:]
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.m == nil {
		rm.m = map[refID][]Listing{}
	}
	ls, seen := rm.m[k]
	if !seen {
		rm.order = append(rm.order, k)
	}
	switch {
	case seen && ls == nil:
		// Already ambiguous.
	case slices.Contains(ls, l):
	case len(ls) == maxListings:
		rm.m[k] = nil
	default:
		// A new slice: lookups hand theirs out without the lock.
		rm.m[k] = append(ls[:len(ls):len(ls)], l)
	}
	limit := rm.max
	if limit <= 0 {
		limit = maxRefs
	}
	if len(rm.order) > limit {
		half := len(rm.order) / 2
		for _, old := range rm.order[:half] {
			delete(rm.m, old)
		}
		rm.order = append(rm.order[:0:0], rm.order[half:]...)
	}
}

// maxListedName bounds a remembered name; longer ones keep their end.
const maxListedName = 255

// lookup returns the listings of k; ok is false when k was never listed,
// was forgotten, or is ambiguous.
func (rm *refMemory) lookup(k refID) ([]Listing, bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	ls, ok := rm.m[k]
	return ls, ok && len(ls) > 0
}
