// Package proxy is the gateway's HTTPS reverse proxy in front of one mail
// server: it terminates TLS, decides per request whether the device (EAS)
// or user (EWS) may reach the mailbox, answers refused requests itself, and
// streams everything else to the mail server and back.
//
//	p, err := proxy.New(cfg, proxy.Deps{Store: store, Logger: log})
//	err = p.Serve(ctx, listener) // or p.ListenAndServe(ctx)
//
// [Config] documents every setting and its default; [Deps] are the device
// store (records, discovery and, by default, the policy in force), the
// logger, the clock and, optionally, the metrics.
//
// # Routes
//
// Paths are matched on whole segments without regard to case, as IIS
// matches virtual directories.
//
//	/Microsoft-Server-ActiveSync  EAS: identity, decision, proxy or block
//	/EWS                          EWS: the rule below when EWS.Enabled (off by default: 404)
//	/Autodiscover                 passed through
//	/owa (Webmail.Prefixes)       passed through when Webmail.Enabled (off by default)
//	anything else                 404, never forwarded
//
// A path that is not in normal form (dot segments, "//", a backslash, an
// encoded slash or backslash, a '%' left after decoding, control
// characters) is refused with 400 before routing: the mail server
// normalises and decodes paths itself, so "/EWS/..%2fowa" would be checked
// as one route and served as another.
//
// # ActiveSync
//
// OPTIONS passes without a decision: it only asks which versions and
// commands the server speaks. It is forwarded without its query and body
// (a client could put a blocked device's Cmd=Sync on it). Every other
// request is parsed with [eas.ParseRequest] (plain and base64 query, the
// Authorization header per RFC 9110 section 11.4); a request the parser
// refuses (missing or duplicate parameters, unknown command, bad base64,
// repeated identity headers, an Authorization value that is not an
// auth-scheme token then a space, malformed Basic credentials) gets 400
// and never reaches the mail server, and a method other than POST gets
// 405.
//
// # Identity
//
// The user of a request is the one its credentials name, never only what
// the query's User claims:
//
//   - a client certificate verified against ClientCAFile: its UPN
//     subjectAltName (otherName 1.3.6.1.4.1.311.20.2.3) or subject common
//     name, as ClientCertUser says;
//   - otherwise Authorization: Basic (the scheme in any case, then
//     base64 of user:password).
//
// Every name present (certificate, Basic, the query's User) must name the
// same account ([eas.SameUser]: case-insensitive; DOMAIN\user matches
// user@domain.suffix when DOMAIN is the suffix's first label; a bare user
// matches either form), else identity.user_conflict. Credentials that
// name no user (Negotiate, Bearer, NTLM, none; a verified certificate
// without the configured name) are identity.unidentified, unless
// TrustQueryUser is set, which takes the query's User as is (see its
// risk there). Both reasons refuse the request before the store and the
// policy (test mode does not lift them) with the block response of
// status 129.
//
// The identity ([device.NewIdentity] with that user and the client
// address) is decided on with the device's record and the policy in force
// ([device.Decide]); devices without a record are recorded by
// [device.Store.Observe]. Test mode allows and logs the intended action.
// The query is forwarded byte for byte as decided on.
//
// # Block responses
//
// A refused EAS request is answered by the gateway, in a form clients act
// on once instead of retrying ([MS-ASCMD] 2.2.2 common status codes,
// protocol 14.0 and later):
//
//	command                                   response (HTTP 200, WBXML)
//	Sync                                      AirSync:Sync/Status
//	FolderSync, FolderCreate, FolderDelete,   FolderHierarchy:<command>/Status
//	  FolderUpdate
//	Ping                                      Ping:Ping/Status
//	Provision                                 Provision:Provision/Status (never 142 or 145)
//	Settings                                  Settings:Settings/Status
//	ItemOperations                            ItemOperations:ItemOperations/Status
//	Search                                    Search:Search/Status
//	ResolveRecipients                         ResolveRecipients:ResolveRecipients/Status
//	ValidateCert                              ValidateCert:ValidateCert/Status
//	SendMail, SmartForward, SmartReply        ComposeMail:<command>/Status
//	Find                                      Find:Find/Status
//	MoveItems                                 Move:MoveItems/Response/Status
//	GetItemEstimate                           GetItemEstimate:GetItemEstimate/Response/Status
//	MeetingResponse                           MeetingResponse:MeetingResponse/Result/Status
//	GetAttachment, legacy 2.x commands        HTTP 403 (no WBXML response exists)
//
// MoveItems, GetItemEstimate and MeetingResponse have no top-level Status
// in the schema; their Status sits where a schema-validating client looks.
//
// The status code depends on the decision:
//
//	quarantine (any reason)                        130 AccessDenied
//	general.user.blocked, general.user.not_allowed 126 UserDisabledForSync
//	general.unmanaged                              145 ExternallyManagedDevicesNotAllowed
//	managed.eas_profile.missing                    142 DeviceNotProvisioned
//	every other block                              129 DeviceIsBlockedForThisUser
//
// 142 and 145 tell the client to provision again; Provision itself is
// answered 129 for them, so a client re-provisions at most once and then
// stops. Quarantine has no status of its own in EAS (Exchange lets a
// quarantined device sync an Inbox holding one notice); 177
// MaximumDevicesReached, sometimes used, would tell the user to delete
// device partnerships, so 130 is used.
//
// Outside the WBXML form:
//
//   - No policy loaded and failing closed (policy.none.fail_closed): 503
//     with Retry-After NoPolicyRetryAfter, for EAS and EWS alike. It is a
//     transient state of the gateway, not a verdict on the device: clients
//     back off and come back, and do not show a "blocked" error or re-run
//     Autodiscover.
//   - Protocol older than 14.0 (MS-ASProtocolVersion 2.5 to 12.1), which
//     predates the common status codes: 403, as Exchange 2007 answered.
//     403 makes some clients re-run Autodiscover, hence its use only where
//     no status code is understood.
//
// # EWS
//
// /EWS is off unless EWS.Enabled: it answers 404 and never reaches the
// mail server, as on the reference gateway. When on, EWS requests come
// from mail apps and notification services rather than from a device that
// syncs, so the rule is by user and client. The user is the verified
// client certificate's, else the one of Authorization: Basic (see
// Identity; EWS has no query User, and TrustQueryUser does not apply):
// without credentials the gateway answers 401 with a Basic challenge
// itself; a malformed Authorization or Basic value gets 400; another
// scheme is refused (ews.user_unidentified). The user may use EWS when:
//
//  1. a policy is loaded (otherwise 503, or allowed when mail may flow
//     without one);
//  2. the request passes the policy as one from a device the gateway does
//     not know: the user lists, the mail client lists (User-Agent),
//     ManagedOnly (which therefore refuses every EWS request), the device
//     type lists (an EWS request has no device type: a non-empty allow
//     list refuses it), ABQ rules, the default access level; and
//  3. some device of the user ([device.Store.ByUser]) is allowed by what
//     its record decides: overrides, record binding, managed only, the
//     managed-device policies, ABQ rules on DeviceModel and DeviceOS, the
//     default access level. A user without any record is allowed when a
//     device without a record would be.
//
// Test mode applies as for EAS. A refused EWS request gets 403
// (general.*, ews.no_allowed_device, or the device reason when the user
// has no record). Records are found by the user name as written
// (case-insensitive): a record for jane@contoso.com does not match Basic
// user CONTOSO\jane.
//
// The email security transforms read ActiveSync, not SOAP. When a
// transform plan applies to the user and client, the EWS operation (the
// first child of soap:Body in the EWS messages namespace, read with a
// strict XML decoder from at most 64 KiB of the body; SOAPAction is not
// trusted) must be one whose response carries no item body, preview or
// attachment (folders, identifiers, notifications, directory; see
// ewsSafeOperations). GetItem, GetAttachment, FindItem, ExportItems,
// SyncFolderItems, GetConversationItems, FindConversation and every
// operation not on the list, a body that does not parse, a compressed body
// or a method other than POST get 403 (ews.transform_plan) and never
// reach the mail server.
//
// # 451 redirects
//
// Exchange answers 451 with X-MS-Location when a mailbox is better served
// by another server ([MS-ASHTTP] 3.2.5.1). Followed as is, the client would
// bypass the gateway. The location is rewritten to the same path and query
// on the gateway's own host (the request's Host and scheme), and the
// user (the request's device when it names no user) is mapped to the
// named server: later requests of that user go there. Mappings live in
// memory, at most MaxRedirects, least recently used forgotten first; a
// mapping is dropped when its server fails (502/504), so the next request
// tries the configured upstream again. A location that is not an absolute
// http(s) URL, or names a host outside RedirectHosts when that is set, is
// answered 502. [Proxy.WriteRedirectsCSV] exports the mappings.
//
// # Proxying
//
// [httputil.ReverseProxy] with Rewrite does the copying. Hop-by-hop headers
// (RFC 9110 section 7.6.1: Connection and the headers it names,
// Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade) are
// removed both ways; client X-Forwarded-* and Forwarded headers are
// dropped and X-Forwarded-For/-Host/-Proto set, unless the peer is in
// TrustedProxies (then the client address is taken from X-Forwarded-For
// and the header extended). Request and response bodies stream in both
// directions. A response of unknown length (chunked, as streamed
// multipart and transformed responses are) is flushed at every write, so
// it reaches the client as the server sends it; one with a Content-Length
// goes out through the connection's buffer, in as few writes as its size
// allows (flushing each write of those cost a system call and a timer per
// response, about a sixth of the proxy's throughput). The upstream transport is pooled HTTP/1.1, verifies
// the server's certificate unless InsecureSkipVerify (logged loudly at
// start), and passes bodies on without decompressing them.
//
// Errors map to statuses in one place (errorStatus): request body over
// MaxRequestBodyBytes 413; client body stalled or broken 408/400; client
// gone 499 (logged only); no response header within the command's
// timeout 504; anything else (dial, TLS, reset, unusable 451) 502. Error
// bodies are short plain text, never HTML.
//
// # Timeouts and limits
//
//	ReadHeaderTimeout   15 s   TLS handshake and request header
//	IdleTimeout        120 s   keep-alive between requests
//	BodyIdleTimeout     60 s   request body stalled between reads
//	WriteIdleTimeout    60 s   client accepting no response bytes
//	CommandTimeout     120 s   upstream response header, most commands
//	LongPollTimeout   3660 s   upstream response header, Ping and Sync
//	MaxHeaderBytes    64 KiB   larger header: 431 (HTTP/2: advertised limit)
//	MinBodyRate      1 KiB/s   request body, per 30 s BodyRateWindow: else 408
//	BodyTimeout       15 min   whole request body: else 408
//	MaxConns          50,000   further connections wait in the accept queue
//	MaxConnsPerSource    512   per untrusted IPv4 address or IPv6 /64: reset
//	HTTP2MaxStreams    1,000   per client connection (a front proxy multiplexes)
//	MaxUpstreamConns  MaxConns connections to the mail server, per host
//
// There is no total write timeout, and no total read timeout but the
// body's (they would cut long polls): the write and idle timeouts slide.
// A request body must also keep MinBodyRate: each BodyRateWindow spent
// waiting for the client must bring MinBodyRate × BodyRateWindow bytes,
// so a client cannot hold a connection (and its upstream connection) by
// trickling a byte now and then. A body the gateway answers without
// reading gets the shortest of the body limits for the rest of it, which
// Go's HTTP/1 server reads before the response. The upstream response
// timeout counts from the request being sent; while the body uploads it
// restarts with every chunk the server accepts. Ping and Sync (which may
// carry Wait or HeartbeatInterval, up to 59 minutes) get LongPollTimeout:
// bodies are not parsed to learn the heartbeat. A long poll's body is
// read at once, so the body limits end before it waits.
//
// MaxConnsPerSource applies only to peers outside TrustedProxies: a load
// balancer in front may hold thousands of connections, while one client
// address (or a NAT) should not need more than a few hundred. Excess
// connections are reset before their TLS handshake. The same limit bounds
// the source's requests in flight to the mail server, which over HTTP/2
// can outnumber its connections: a request beyond it is answered 429 with
// Retry-After. An HTTP/2 stream holds at most one upstream connection (the
// upstream is HTTP/1.1, one request per connection, and Go's server runs
// at most HTTP2MaxStreams handlers per connection, reset streams
// included), so one client connection holds at most HTTP2MaxStreams
// upstream connections, and all together at most MaxUpstreamConns per
// mail server host.
//
// # Logs
//
// Every request ends in one "transaction" record (user, device_id,
// device_type, cmd, status, bytes_in, bytes_out, duration, decision,
// reason, src, upstream, and test_mode/intended, eas_status, via_451,
// upstream_status, err where they apply). A refused request, and one that
// test mode let through, adds a "blocked" record with the rule, protocol, client, query and headers
// (Authorization keeps only its scheme; cookies are redacted); users and
// devices in [Proxy.Targets] get a "targeted" record with request and
// response headers. Both come before the summary.
//
// # Metrics
//
// With [Deps.Metrics] set to a [Metrics] registered with Prometheus, every
// request is counted once, where it ends, just before its transaction
// record: forwarded, refused by the gateway or failed. Without it nothing
// is counted and requests pay nothing. Names start with enforcer_l7_:
//
//	requests_total{route,command,decision,reason}    counter
//	request_duration_seconds{route,command_class}    histogram
//	upstream_response_seconds{route,command_class}   histogram
//	upstream_errors_total{kind}                      counter
//	responses_total{code_class}                      counter
//	bytes_total{direction}                           counter
//	in_flight_requests                               gauge
//	connections_refused_total                        counter (MaxConnsPerSource)
//	open_connections                                 gauge, read at scrape
//	redirects_remembered                             gauge, read at scrape
//	device_records                                   gauge, read at scrape
//
// The labels:
//
//   - route: activesync, ews, autodiscover, webmail or none (the
//     transaction log's route "eas" is "activesync").
//   - command: the EAS command as [eas.Command] spells it ("Sync"); "" outside
//     EAS, for OPTIONS and for a query the parser refused.
//   - decision: allow, block or quarantine, the action decided on (test
//     mode's allow keeps the reason the policy would have refused for);
//     pass, forwarded without a decision (OPTIONS, Autodiscover, webmail);
//     reject, answered by the gateway without a decision (path not in
//     normal form, unrouted path, malformed EAS request, method other than
//     POST, EWS without credentials or with malformed ones).
//   - reason: a code of [device.Reasons] or [Reasons]; "" without a
//     decision.
//   - command_class: longpoll for Ping and Sync forwarded to the mail
//     server, which holds them up to the heartbeat (every Sync counts: its
//     body, which says whether it waits, is not parsed); command for every
//     other request, so that long polls leave command latency readable.
//     Buckets run from 5 ms to 3600 s.
//   - kind: why the mail server gave no usable response header, for the
//     requests answered 502 or 504: dial (connection refused or timed
//     out), tls (handshake or certificate), timeout (no response header
//     within the command's timeout), reset (connection reset or closed
//     before an answer), bad_redirect (unusable 451), other. A response
//     broken after its header is not counted here.
//   - code_class: 1xx to 5xx of the status logged; 499 (client gone) is
//     4xx.
//   - direction: in, request body bytes read from clients (a refused
//     request's body is never read); out, response body bytes written.
//
// Every label takes values from a fixed set (unknown commands and reasons
// would count as "other"), so the series are bounded; a requests_total
// series appears when first counted, the histograms from the start.
// upstream_response_seconds runs from sending the request to the response
// header, upload included. open_connections counts the connections of
// [Proxy.Serve] (0 when another server runs the handler). A Metrics
// follows the last Proxy built with it: its counters survive a rebuilt
// Proxy. Counting costs a request a few clock reads and atomic adds,
// and no allocation (BenchmarkHandlerMetrics).
//
// It must not know the config file or the daemon: its options are [Config]
// (embedded by cmd/enforcer/config), the device policy and the transforms
// come through [Deps], and the daemon runs Serve among its servers.
package proxy
