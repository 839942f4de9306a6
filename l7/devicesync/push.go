package devicesync

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/httperror"
)

const (
	// DefaultMaxBodyBytes bounds the body of a one-record or policy push.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxBulkBytes bounds the body of a bulk push.
	DefaultMaxBulkBytes = 64 << 20
)

// PushOptions configure [NewPushHandler]. The zero value refuses every
// request: there is no token to accept.
type PushOptions struct {
	// Tokens are the bearer tokens accepted, any of them (several, so that
	// a token can be rotated without downtime). Default none: every
	// request is answered 401.
	Tokens [][]byte
	// MaxBodyBytes bounds the body of PUT /v1/devices/{id} and PUT
	// /v1/policy; larger bodies are answered 413. Default (0)
	// DefaultMaxBodyBytes, 1 MiB.
	MaxBodyBytes int64
	// MaxBulkBytes bounds the body of POST /v1/devices/bulk. Default (0)
	// DefaultMaxBulkBytes, 64 MiB.
	MaxBulkBytes int64
	// Logger receives one line per change applied and per refused
	// request. Default slog.Default().
	Logger *slog.Logger
	// Transforms takes the email security document on /v1/transforms.
	// Default: none, and the route answers 404.
	Transforms TransformsHook
}

// NewPushHandler returns the HTTP API through which device management
// pushes records and the policy (see the package documentation, "Push").
// Every change goes through db.Apply, so it is on disk before the answer
// and in st when the answer is sent.
func NewPushHandler(db *DB, st *device.Store, opts PushOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxBulkBytes <= 0 {
		opts.MaxBulkBytes = DefaultMaxBulkBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &pushHandler{db: db, st: st, opts: opts}
	for _, t := range opts.Tokens {
		if len(t) > 0 {
			h.tokens = append(h.tokens, append([]byte(nil), t...))
		}
	}
	return h
}

type pushHandler struct {
	db     *DB
	st     *device.Store
	opts   PushOptions
	tokens [][]byte
}

// errorf is an error answered with status (the admin API's convention,
// httperror).
func errorf(status int, format string, a ...any) *httperror.Error {
	return httperror.New(status, format, a...)
}

func (h *pushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if status, problem := h.authenticate(r); status != 0 {
		// RFC 6750 section 3: name the scheme; say invalid_token only when
		// a token was presented.
		chal := `Bearer realm="enforcer device sync"`
		if problem != "" {
			chal += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", chal)
		h.opts.Logger.Warn("device push refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "problem", cmpOr(problem, "no bearer token"))
		httperror.WriteJSON(w, status, httperror.Body{Error: "authentication required: send Authorization: Bearer <token>"})
		return
	}
	v, err := h.route(w, r)
	if err != nil {
		if _, ok := errors.AsType[*httperror.Error](err); !ok {
			err = classify(err)
		}
		status := httperror.StatusOf(err)
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allowed(r.URL))
		}
		lvl := slog.LevelWarn
		if status >= 500 {
			lvl = slog.LevelError
		}
		h.opts.Logger.Log(r.Context(), lvl, "device push failed", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
		httperror.Write(w, err)
		return
	}
	if res, ok := v.(Result); ok {
		h.opts.Logger.Info("device push applied", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
			"upserted", res.Upserted, "deleted", res.Deleted, "stale", res.Stale, "unchanged", res.Unchanged, "policy", res.Policy)
	}
	httperror.WriteJSON(w, http.StatusOK, v)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// authenticate returns 0 for a request with an accepted token, else 401
// and what was wrong with the token presented ("" for none).
func (h *pushHandler) authenticate(r *http.Request) (int, string) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return http.StatusUnauthorized, ""
	}
	given := []byte(strings.TrimSpace(tok))
	// Compare with every token, so that the time taken does not tell
	// which one nearly matched.
	match := 0
	for _, t := range h.tokens {
		match |= subtle.ConstantTimeCompare(given, t)
	}
	if match == 1 {
		return 0, ""
	}
	return http.StatusUnauthorized, "token not accepted"
}

// Routes.
const (
	pathDevices = "/v1/devices/"
	pathBulk    = "/v1/devices/bulk"
	pathPolicy  = "/v1/policy"
)

// allowed is the Allow header of a 405 for u's path.
func allowed(u *url.URL) string {
	switch p := u.EscapedPath(); {
	case p == pathPolicy:
		return "GET, PUT"
	case p == pathTransforms:
		return "GET, PUT, DELETE"
	case p == pathBulk:
		return "POST, GET, PUT, DELETE"
	default:
		return "GET, PUT, DELETE"
	}
}

func (h *pushHandler) route(w http.ResponseWriter, r *http.Request) (any, error) {
	p := r.URL.EscapedPath()
	switch {
	case p == pathPolicy:
		switch r.Method {
		case http.MethodPut:
			return h.putPolicy(w, r)
		case http.MethodGet:
			return h.getPolicy()
		}
		return nil, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, pathPolicy)
	case p == pathTransforms:
		return h.transforms(w, r)
	case p == pathBulk && r.Method == http.MethodPost:
		return h.bulk(w, r)
	case strings.HasPrefix(p, pathDevices):
		esc := p[len(pathDevices):]
		if esc == "" || strings.Contains(esc, "/") {
			return nil, errorf(http.StatusNotFound, "no such resource %s; want %s{device id}", r.URL.Path, pathDevices)
		}
		id, err := url.PathUnescape(esc)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "device id in path: %v", err)
		}
		if problem := checkID(id); problem != "" {
			return nil, errorf(http.StatusBadRequest, "device id in path: %s", problem)
		}
		switch r.Method {
		case http.MethodPut:
			return h.putDevice(w, r, id)
		case http.MethodDelete:
			return h.deleteDevice(r, id)
		case http.MethodGet:
			return h.getDevice(id)
		}
		return nil, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
	}
	return nil, errorf(http.StatusNotFound, "no such resource %s; see the routes under /v1/devices/ and /v1/policy", r.URL.Path)
}

// readBody decodes a JSON body of at most limit bytes into v.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
	}
	if r.ContentLength > limit {
		return errorf(http.StatusRequestEntityTooLarge, "body of %d bytes is over the limit of %d bytes", r.ContentLength, limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := decodeStrict(body, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes", limit)
		}
		return errorf(http.StatusBadRequest, "body: %v", err)
	}
	return nil
}

// classify maps an error of DB.Apply to a status.
func classify(err error) *httperror.Error {
	switch {
	case errors.Is(err, ErrInvalidChange):
		return httperror.Wrap(http.StatusBadRequest, err)
	case errors.Is(err, ErrClosed):
		return httperror.Wrap(http.StatusServiceUnavailable, err)
	}
	return httperror.Wrap(http.StatusInternalServerError, err)
}

func (h *pushHandler) putDevice(w http.ResponseWriter, r *http.Request, id string) (any, error) {
	var d RecordDoc
	if err := readBody(w, r, h.opts.MaxBodyBytes, &d); err != nil {
		return nil, err
	}
	switch {
	case d.DeviceID == "":
		d.DeviceID = id
	case device.Fold(d.DeviceID) != device.Fold(id):
		return nil, errorf(http.StatusBadRequest, "body: field device_id: %q does not match %q in the path", d.DeviceID, id)
	}
	return h.db.Apply(h.st, Change{Upsert: []device.Record{d.Record()}}, nil)
}

func (h *pushHandler) deleteDevice(r *http.Request, id string) (any, error) {
	del := Deletion{DeviceID: id}
	if s := r.URL.Query().Get("deleted"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "query parameter deleted %q: want an RFC 3339 time", s)
		}
		del.Deleted = t
	}
	return h.db.Apply(h.st, Change{Delete: []Deletion{del}}, nil)
}

func (h *pushHandler) getDevice(id string) (any, error) {
	v, ok, err := h.db.Device(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(http.StatusNotFound, "no device %q", id)
	}
	return v, nil
}

func (h *pushHandler) bulk(w http.ResponseWriter, r *http.Request) (any, error) {
	var d ChangeDoc
	if err := readBody(w, r, h.opts.MaxBulkBytes, &d); err != nil {
		return nil, err
	}
	return h.db.Apply(h.st, d.Change(), nil)
}

func (h *pushHandler) putPolicy(w http.ResponseWriter, r *http.Request) (any, error) {
	var d PolicyDoc
	if err := readBody(w, r, h.opts.MaxBodyBytes, &d); err != nil {
		return nil, err
	}
	return h.db.Apply(h.st, Change{Policy: &d}, nil)
}

func (h *pushHandler) getPolicy() (any, error) {
	p, err := h.db.Policy()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errorf(http.StatusNotFound, "no policy stored yet")
	}
	return p, nil
}
