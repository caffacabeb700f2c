package sparsa

import (
	"errors"
	"fmt"
	"runtime"

	"sparsa/internal/capi"
)

// Status is a status code of the library; values never change meaning.
type Status int

// The library's status codes.
const (
	OK              Status = 0
	InvalidArgument Status = 1
	OutOfMemory     Status = 2
	Unsupported     Status = 3
	NoDevice        Status = 4
	DeviceFault     Status = 5
	Format          Status = 6
	IO              Status = 7
	Version         Status = 8
	Internal        Status = 9
)

// String is the library's description of the status ("invalid argument").
func (s Status) String() string { return capi.Status_string(int(s)) }

// Error is a failure reported by the library.
type Error struct {
	Status  Status
	Message string // the library's detail, naming the argument and the reason
}

func (e *Error) Error() string {
	return fmt.Sprintf("sparsa: %v: %s", e.Status, e.Message)
}

// ErrClosed is wrapped by the errors of methods called on closed handles.
var ErrClosed = errors.New("handle is closed")

func closedError(what string) error {
	return fmt.Errorf("sparsa: %s: %w", what, ErrClosed)
}

// call runs binding-layer calls and returns their status as an error. The
// status is thread-local in C, so the goroutine stays on one OS thread from
// the call to the status read.
func call(f func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f()
	if st := Status(capi.Last_status()); st != OK {
		return &Error{Status: st, Message: capi.Last_message()}
	}
	return nil
}

// LibraryVersion is the loaded library's "MAJOR.MINOR.PATCH".
func LibraryVersion() string { return capi.Version() }
