package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// ErrInvalidConfig is wrapped by every [ConfigError].
var ErrInvalidConfig = errors.New("invalid proxy config")

// ConfigError is one problem in a [Config], naming the field.
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return "proxy config: " + e.Field + ": " + e.Problem }

// FieldProblem returns the field's key in the configuration file and the
// problem, for a reader that reports them at the field's place there.
func (e *ConfigError) FieldProblem() (string, string) { return e.Field, e.Problem }

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func joinConfigErrors(errs []error) error { return errors.Join(errs...) }

// Errors of the proxying path; errorStatus maps them to statuses.
var (
	// errUpstreamTimeout: the mail server sent no response header within
	// the command's upstream response timeout.
	errUpstreamTimeout = errors.New("upstream response timeout")
	// errBadRedirect: a 451 whose X-MS-Location is not an absolute http(s)
	// URL, or names a host outside RedirectHosts.
	errBadRedirect = errors.New("unusable 451 redirect")
	// errClientBody: reading the client's request body failed (stalled
	// past BodyIdleTimeout, or the connection broke).
	errClientBody = errors.New("client request body")
	// errMultipartUnderPlan: the mail server answered a request under a
	// transform plan with a multipart response, whose parts the
	// transforms cannot check; refused (502) rather than passed.
	errMultipartUnderPlan = errors.New("multipart response to a request without the multipart preference: its attachments cannot be checked, refused")
	// errEncodedUnderPlan: the same for a compressed response to a
	// request sent without Accept-Encoding.
	errEncodedUnderPlan = errors.New("compressed response to a request without Accept-Encoding: it cannot be checked, refused")
)

// StatusClientClosed is logged (never sent) for a request whose client went
// away before a response could be written, after nginx's 499.
const StatusClientClosed = 499

// errorStatus is the one place an error of the proxying path becomes the
// HTTP status the client sees:
//
//	request body larger than MaxRequestBodyBytes   413
//	client body stalled or broken                  408 (timeout) / 400
//	client gone (its context canceled)             499, logged only
//	no upstream response header in time            504
//	anything else: dial, TLS, reset, bad 451       502
func errorStatus(ctx context.Context, err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errClientBody):
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return http.StatusRequestTimeout
		}
		return http.StatusBadRequest
	case errors.Is(err, errUpstreamTimeout):
		return http.StatusGatewayTimeout
	case ctx.Err() != nil:
		return StatusClientClosed
	}
	return http.StatusBadGateway
}

// upstreamErrorKind classifies an error errorStatus blamed on the mail
// server (502, 504) for upstream_errors_total.
func upstreamErrorKind(err error) upstreamErr {
	var (
		verify *tls.CertificateVerificationError
		record tls.RecordHeaderError
		alert  tls.AlertError
		op     *net.OpError
	)
	switch {
	case errors.Is(err, errUpstreamTimeout):
		return upstreamErrTimeout
	case errors.Is(err, errBadRedirect):
		return upstreamErrBadRedirect
	case errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert),
		// net/http's handshake timeout has no exported type.
		strings.Contains(err.Error(), "TLS handshake"):
		return upstreamErrTLS
	case errors.As(err, &op) && op.Op == "dial":
		return upstreamErrDial
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		// The server closed the connection before answering.
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return upstreamErrReset
	}
	return upstreamErrOther
}

// errorBody is the text of an error response: plain text, never HTML,
// so that EAS clients (which parse nothing on 4xx/5xx but may log the body)
// and log viewers see a short reason.
func errorBody(status int) string {
	switch status {
	case http.StatusBadGateway:
		return "gateway: the mail server could not be reached\n"
	case http.StatusGatewayTimeout:
		return "gateway: the mail server did not answer in time\n"
	case http.StatusRequestEntityTooLarge:
		return "gateway: request body too large\n"
	}
	return fmt.Sprintf("gateway: %s\n", strings.ToLower(http.StatusText(status)))
}

// writeError writes a plain-text error response.
func writeError(w http.ResponseWriter, status int, h http.Header) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(errorBody(status)))
}
