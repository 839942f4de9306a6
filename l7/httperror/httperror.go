// Package httperror is the one convention by which the JSON APIs (the
// daemon's admin API and the device push API) turn an error into an HTTP
// answer: an [*Error] carries the status and the message the client is
// shown; any other error is a 500. The body is always {"error": "..."},
// which the CLI and device management read and print as is.
//
// It owns nothing but that mapping: it must not know the APIs' routes or
// their domain errors (each API maps its own sentinel errors to an
// [*Error] where it handles them). The proxy's answers to mail clients
// are another concern (protocol statuses without a JSON body) and stay
// in l7/proxy.
package httperror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a problem the client can fix or must be told about: Status is
// the HTTP status to answer with, Msg what the client is shown.
type Error struct {
	Status int
	Msg    string
	// Err is the cause, if any, for errors.Is and errors.As.
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error answered with status and the formatted message.
func New(status int, format string, a ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// Wrap returns err answered with status, its message as is.
func Wrap(status int, err error) *Error {
	return &Error{Status: status, Msg: err.Error(), Err: err}
}

// BadRequest is New with 400 Bad Request.
func BadRequest(format string, a ...any) *Error { return New(http.StatusBadRequest, format, a...) }

// NotFound is New with 404 Not Found.
func NotFound(format string, a ...any) *Error { return New(http.StatusNotFound, format, a...) }

// StatusOf is the status err is answered with: that of the first
// [*Error] in its chain, else 500 Internal Server Error.
func StatusOf(err error) int {
	if e, ok := errors.AsType[*Error](err); ok && e.Status != 0 {
		return e.Status
	}
	return http.StatusInternalServerError
}

// Body is the JSON body of every error answer.
type Body struct {
	Error string `json:"error"`
}

// Write answers err: its status (StatusOf) and a Body holding
// err.Error() (the whole message, with any context wrapped around the
// [*Error]). It returns the status, for the log.
func Write(w http.ResponseWriter, err error) int {
	status := StatusOf(err)
	WriteJSON(w, status, Body{Error: err.Error()})
	return status
}

// WriteJSON writes v as the JSON body of an answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
