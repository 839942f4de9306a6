package links

import (
	"fmt"
	"strings"
	"testing"
)

// newsletter returns an HTML mail of about size bytes shaped like a
// marketing newsletter: Outlook conditional comments, a style block,
// nested layout tables with inline styles, images, and a link or two per
// article (tracking URLs with long query strings), a footer of links.
func newsletter(size int) []byte {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>Weekly digest</title>
<!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->
<style type="text/css">
body{margin:0;padding:0;background:#f4f4f4}table{border-collapse:collapse}
.hero{background:url(https://cdn.news.example/img/hero.jpg) no-repeat}
a{color:#1a73e8;text-decoration:none}@media only screen and (max-width:600px){.col{width:100%!important}}
</style></head>
<body style="margin:0;padding:0"><center><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
`)
	for i := 0; b.Len() < size-1500; i++ {
		fmt.Fprintf(&b, `<tr><td class="col" style="padding:24px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#333333">
<img src="https://cdn.news.example/img/article-%d.jpg" width="536" height="240" alt="Article %d" style="display:block;border:0">
<h2 style="margin:16px 0 8px;font-size:22px">Story number %d: what changed this week</h2>
<p style="margin:0 0 12px">Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation.</p>
<a href="https://click.news.example/ls/click?upn=u001.AbCdEf%d-2BgHiJkLmNoPqRsTuVwXyZ&amp;utm_source=newsletter&amp;utm_medium=email" target="_blank" style="display:inline-block;padding:10px 18px;background:#1a73e8;color:#ffffff;border-radius:4px">Read more</a>
<!-- tracking pixel --><img src="http://open.news.example/o/%d.gif" width="1" height="1" alt="">
</td></tr>
`, i, i, i, i, i)
	}
	b.WriteString(`<tr><td style="padding:16px;font-size:12px;color:#888888">You receive this mail because you subscribed.
<a href="https://www.example.com/unsubscribe?u=123">Unsubscribe</a> | <a href="http://www.example.com/prefs">Preferences</a> |
<a href="mailto:news@example.com">Contact</a></td></tr></table></center></body></html>
`)
	return []byte(b.String())
}

// plainText returns a plain text mail of about size bytes: paragraphs
// with a URL every few lines, quoted replies, a signature.
func plainText(size int) []byte {
	var b strings.Builder
	b.WriteString("Hi team,\r\n\r\nplease find the notes from today's meeting below.\r\n\r\n")
	for i := 0; b.Len() < size-300; i++ {
		fmt.Fprintf(&b, "%d. The rollout plan is in the wiki (https://wiki.example.com/display/OPS/Rollout+%d), and the\r\n", i, i)
		b.WriteString("   dashboards have been updated; numbers look fine so far. Questions go to the\r\n")
		fmt.Fprintf(&b, "   usual channel or see <http://intranet.example.com/faq#q%d>.\r\n> On Monday someone wrote: a quoted line with no link at all, just words.\r\n\r\n", i)
	}
	b.WriteString("Best regards,\r\nAlex\r\n-- \r\nExample Corp | https://www.example.com | +1 555 0100\r\n")
	return []byte(b.String())
}

func benchConfigs() []struct {
	name string
	cfg  Config
} {
	return []struct {
		name string
		cfg  Config
	}{
		{"all", Config{}},
		{"include", Config{Mode: Include, Domains: []string{"example.com", "intranet.test", "192.0.2.1"}}},
		{"exclude", Config{Mode: Exclude, Domains: []string{"news.example", "cdn.example"}}},
	}
}

func BenchmarkHTML(b *testing.B) {
	src := newsletter(60 << 10)
	for _, c := range benchConfigs() {
		b.Run(c.name, func(b *testing.B) {
			r := mustNew(b, c.cfg)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				_, n = r.HTML(src)
			}
			b.ReportMetric(float64(n), "links")
		})
	}
}

func BenchmarkText(b *testing.B) {
	src := plainText(8 << 10)
	for _, c := range benchConfigs() {
		b.Run(c.name, func(b *testing.B) {
			r := mustNew(b, c.cfg)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				_, n = r.Text(src)
			}
			b.ReportMetric(float64(n), "links")
		})
	}
}

// TestBenchBodies keeps the benchmark inputs what they claim to be.
func TestBenchBodies(t *testing.T) {
	h, txt := newsletter(60<<10), plainText(8<<10)
	if len(h) < 55<<10 || len(h) > 64<<10 || len(txt) < 7<<10 || len(txt) > 9<<10 {
		t.Fatalf("sizes %d, %d", len(h), len(txt))
	}
	r := mustNew(t, Config{})
	if _, n := r.HTML(h); n < 50 {
		t.Errorf("newsletter: %d links rewritten", n)
	}
	if out, n := r.Text(txt); n < 20 || strings.Contains(string(out), "(mibrowsers://wiki.example.com/display/OPS/Rollout+1)") == false {
		t.Errorf("plain text: %d links rewritten", n)
	}
}
