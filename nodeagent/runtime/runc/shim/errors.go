package shim

import (
	"errors"
	"net/http"
)

// ErrorKind classifies the shim's errors so that they survive the trip over the socket.
type ErrorKind string

// The kinds of error; each has a sentinel below.
const (
	KindNotFound      ErrorKind = "NotFound"
	KindAlreadyExists ErrorKind = "AlreadyExists"
	KindInvalid       ErrorKind = "Invalid"
	KindHasContainers ErrorKind = "HasContainers"
	KindTimeout       ErrorKind = "Timeout"
	KindInternal      ErrorKind = "Internal"
)

// Error is an error the shim answered with. Compare with errors.Is against the Err* values: only the
// kind matters.
type Error struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"error"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Kind)
	}
	return e.Message
}

// Is matches any *Error of the same kind.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Kind == e.Kind
}

var (
	// ErrNotFound: no container with that ID.
	ErrNotFound = &Error{Kind: KindNotFound, Message: "container not found"}
	// ErrAlreadyExists: a container with that ID exists already.
	ErrAlreadyExists = &Error{Kind: KindAlreadyExists, Message: "container already exists"}
	// ErrInvalid: the request is malformed or asks for something the shim cannot do.
	ErrInvalid = &Error{Kind: KindInvalid, Message: "invalid request"}
	// ErrHasContainers: Shutdown was asked while containers are still recorded.
	ErrHasContainers = &Error{Kind: KindHasContainers, Message: "shim still has containers"}
	// ErrTimeout: Wait returned because its timeout passed while the container still runs.
	ErrTimeout = &Error{Kind: KindTimeout, Message: "timed out waiting for the container to exit"}
)

// HTTPStatus is the status the shim answers an error of kind k with.
func (k ErrorKind) HTTPStatus() int {
	switch k {
	case KindNotFound:
		return http.StatusNotFound
	case KindAlreadyExists, KindHasContainers, KindNotRunning:
		return http.StatusConflict
	case KindInvalid:
		return http.StatusBadRequest
	case KindTimeout:
		return http.StatusRequestTimeout
	default:
		return http.StatusInternalServerError
	}
}

// AsError turns any error into the *Error the shim sends: wrapped *Error values keep their kind and
// get the full message; anything else is Internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Kind: e.Kind, Message: err.Error()}
	}
	return &Error{Kind: KindInternal, Message: err.Error()}
}
