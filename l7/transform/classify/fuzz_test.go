package classify

import (
	"net/textproto"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mailgate/enforcer/l7/transform/mime"
)

// FuzzClassify checks that Tags, Decide and Notice never panic, that a
// block names a tag of the message and its rule, and that a notice is
// valid UTF-8 with the subject on one line.
func FuzzClassify(f *testing.F) {
	f.Add("Re: [Confidential] plan", "X-Classification", "Restricted", "Apple-iPhone9C1/1602.56")
	f.Add("=?utf-8?b?W1NlY3JldF0=?=", "Msip_label_x_name", "=?iso-8859-1?q?Intern=E4l?=", "Boxer/4.1")
	f.Add("\xff[secret", "X-Classification", "\r\n internal", "")
	c := mustNew(f, testConfig)
	f.Fuzz(func(t *testing.T, subject, name, value, ua string) {
		// The fuzzer minimizes a new input in time quadratic in its
		// length; long values add nothing that TestTagsBounded does not
		// cover.
		if len(subject)+len(name)+len(value)+len(ua) > 512 {
			return
		}
		h := textproto.MIMEHeader{}
		h.Add(name, value)
		h.Add("X-Classification", value)
		tags := c.Tags(subject, h)
		if len(tags) > MaxTags {
			t.Fatalf("%d tags", len(tags))
		}
		d := c.Decide(tags, ua)
		if d.Rule >= len(testConfig.Rules) || d.Rule < -1 || d.Block && d.Rule < 0 {
			t.Fatalf("decision %+v", d)
		}
		if d.Rule >= 0 && !strings.EqualFold(d.Tag, strings.TrimSpace(testConfig.Rules[d.Rule].Tag)) {
			t.Fatalf("decision %+v: tag is not the rule's", d)
		}
		if s := clean(mime.DecodeWords(subject)); !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
			t.Fatalf("subject for the notice: %q", s)
		}
		if n := c.Notice(d, subject, ua); !utf8.Valid(n) {
			t.Fatalf("notice is not UTF-8: %q", n)
		}
	})
}
