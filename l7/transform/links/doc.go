// Package links rewrites the hyperlinks of a mail body so that they open in
// the managed secure browser: https://host/p becomes mibrowsers://host/p,
// http://host/p becomes mibrowser://host/p. Only the scheme changes; every
// other byte of the body is kept, so a body with nothing to rewrite comes
// back as the very slice it came in.
//
// A [Rewriter] is built once from a [Config] by [New] and is safe for
// concurrent use. Its [Rewriter.Mode] picks the links: all of them, only
// those to listed domains (Include), or all but those (Exclude);
// [ReadDomainsCSV] loads a domain list from a file.
//
// # What is a link
//
// In HTML ([Rewriter.HTML]) a link is the value of the first href
// attribute of an <a> or <area> start tag, found the way the HTML
// tokenizer of a browser finds it (WHATWG HTML section 13.2.5): tag and
// attribute names in any case, values in double quotes, single quotes or
// none, whitespace around '='. The insides of comments, <!...> and <?...>
// declarations, end tags, and the raw text of <script>, <style>,
// <textarea>, <title>, <xmp>, <iframe>, <noembed>, <noframes> and
// <plaintext> are not markup and are skipped. Nothing else is touched: not
// img src, link href, CSS url(), form actions, SVG xlink:href, nor URLs in
// the text of an HTML body (they are no links in the HTML, and rewriting
// them would change the text the reader sees). Relative hrefs are left
// alone even under a <base href>, since making them absolute would change
// more than the scheme.
//
// In plain text ([Rewriter.Text]) a link is an http:// or https:// URL as
// autolinking mail clients and GitHub Flavored Markdown's extended
// autolinks find it: the scheme in any case, not preceded by a letter,
// digit, '+', '-' or '.' (so "xhttps://" is no link); running up to the
// first space, control character, '<', '>' or '"'; then trailing
// punctuation (. , ; : ! ? ' * _ ~) is dropped, and a trailing ')' too
// while the URL has more ')' than '('. A URL inside another URL of any
// scheme (a redirect in a query string) is part of the outer one and is
// not rewritten on its own.
//
// In both, the scheme must be followed by "://" and a non-empty host;
// "https:host" or "https:\\host", which browsers also accept, are left as
// they are, because rewriting them would need more than a new scheme.
//
// # HTML character references
//
// A browser decodes character references in an attribute value before it
// parses the URL, so href="https&#58;//host" is an https link. The
// rewriter decodes numeric references (&#58; &#x3A;) and a few named ones
// (&colon; &sol; &period; &commat; &quest; &num; &amp; &bsol; &lowbar;
// &lsqb; &rsqb; &lbrack; &rbrack; &percnt; &Tab; &NewLine;) in the ":" and
// "//" after the scheme and in the host, and percent-decodes the host, as
// browsers do. The scheme letters themselves must be literal: a link
// written "&#104;ttps://host" is not recognized and is left as it is.
//
// # Character sets
//
// Bodies are handled as bytes, never assumed to be valid UTF-8. Every
// markup character the scanner looks for is ASCII, so any ASCII-compatible
// charset in which bytes below 0x80 always mean ASCII is safe: UTF-8,
// ISO-8859-x, windows-125x, KOI8, EUC-JP, EUC-KR. Shift_JIS, Big5, GBK and
// GB18030 are not: their second bytes reuse part of the ASCII range, so a
// letter of "http" or a '\' could be half of a character; nor are
// ISO-2022-JP, whose characters are written with ASCII bytes, and UTF-16.
// Callers convert such bodies to UTF-8 first.
//
// It must not know EAS, WBXML, MIME or the proxy: package transform calls
// it.
package links
