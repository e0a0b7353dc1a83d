package core

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/goray/goray/core/corepb"
)

// maxErrorChain bounds the cause chain kept in an ErrorStatus, against
// cycles on the way out and hostile input on the way in.
const maxErrorChain = 64

// The categories in the order EncodeError picks the main one: the most
// specific first.
var errorCodes = []struct {
	code corepb.ErrorCode
	err  error
}{
	{corepb.ErrorCode_ERROR_CODE_SHUTDOWN, ErrShutdown},
	{corepb.ErrorCode_ERROR_CODE_TASK_CANCELLED, ErrTaskCancelled},
	{corepb.ErrorCode_ERROR_CODE_ACTOR_DIED, ErrActorDied},
	{corepb.ErrorCode_ERROR_CODE_WORKER_CRASHED, ErrWorkerCrashed},
	{corepb.ErrorCode_ERROR_CODE_OBJECT_FREED, ErrObjectFreed},
	{corepb.ErrorCode_ERROR_CODE_OBJECT_TOO_LARGE, ErrObjectTooLarge},
	{corepb.ErrorCode_ERROR_CODE_INFEASIBLE, ErrInfeasible},
	{corepb.ErrorCode_ERROR_CODE_NOT_REGISTERED, ErrNotRegistered},
	{corepb.ErrorCode_ERROR_CODE_NOT_ENCODABLE, ErrNotEncodable},
	{corepb.ErrorCode_ERROR_CODE_INVALID_INPUT, ErrInvalidInput},
	{corepb.ErrorCode_ERROR_CODE_TASK_FAILED, ErrTaskFailed},
	{corepb.ErrorCode_ERROR_CODE_CONTEXT_CANCELED, context.Canceled},
	{corepb.ErrorCode_ERROR_CODE_DEADLINE_EXCEEDED, context.DeadlineExceeded},
}

func codeOf(sentinel error) (corepb.ErrorCode, bool) {
	for _, c := range errorCodes {
		if c.err == sentinel {
			return c.code, true
		}
	}
	return 0, false
}

func sentinelOf(code corepb.ErrorCode) error {
	for _, c := range errorCodes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// userSentinels are the errors registered with RegisterError, by name.
var userSentinels struct {
	sync.RWMutex
	byName map[string]error
	names  map[error]string
}

// RegisterError gives a sentinel error of the user's a name under which it
// crosses processes: a decoded error (DecodeError) whose original wrapped
// err matches it with errors.Is. Call it at package init, with a name that
// is the same in every process (e.g. "mypkg.ErrNotFound"); registering a
// name or an error twice panics.
func RegisterError(name string, err error) {
	userSentinels.Lock()
	defer userSentinels.Unlock()
	if name == "" || err == nil {
		panic("goray: core.RegisterError: empty name or nil error")
	}
	if userSentinels.byName == nil {
		userSentinels.byName, userSentinels.names = map[string]error{}, map[error]string{}
	}
	if _, dup := userSentinels.byName[name]; dup {
		panic(fmt.Sprintf("goray: error %q registered twice", name))
	}
	if old, dup := userSentinels.names[err]; dup {
		panic(fmt.Sprintf("goray: error %v registered twice, as %q and %q", err, old, name))
	}
	userSentinels.byName[name] = err
	userSentinels.names[err] = name
}

func sentinelName(err error) (string, bool) {
	userSentinels.RLock()
	defer userSentinels.RUnlock()
	n, ok := userSentinels.names[err]
	return n, ok
}

func sentinelNamed(name string) error {
	userSentinels.RLock()
	defer userSentinels.RUnlock()
	return userSentinels.byName[name]
}

// matchedSentinels lists the registered user sentinels err matches.
func matchedSentinels(err error) []string {
	userSentinels.RLock()
	defer userSentinels.RUnlock()
	var out []string
	for n, s := range userSentinels.byName {
		if errors.Is(err, s) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// RemoteError is an error decoded from another process by DecodeError. It
// prints as the original did, and errors.Is finds the runtime categories
// (ErrActorDied, ErrTaskCancelled, ...) and the user sentinels registered
// with RegisterError that the original wrapped, at any link of its chain.
// Other errors of the user's keep their message but not their identity.
type RemoteError struct {
	Message  string // Error() of the original
	GoType   string // the original's Go type
	Task     string // the task or method that failed, if known
	Actor    string // the actor, if known
	Stack    string // the remote goroutine stack at a panic
	Panic    string // the panic value, printed
	Attempts int

	codes     []corepb.ErrorCode
	sentinels []error // registered user sentinels this link wraps
	cause     error   // the next link of the chain, or nil
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the categories this link wraps and the next link.
func (e *RemoteError) Unwrap() []error {
	out := make([]error, 0, len(e.codes)+len(e.sentinels)+1)
	out = append(out, e.sentinels...)
	for _, c := range e.codes {
		if s := sentinelOf(c); s != nil {
			out = append(out, s)
		}
	}
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// Code is the error's main category, ERROR_CODE_UNSPECIFIED for a user error.
func (e *RemoteError) Code() corepb.ErrorCode {
	if len(e.codes) == 0 {
		return corepb.ErrorCode_ERROR_CODE_UNSPECIFIED
	}
	return e.codes[0]
}

// ErrorStatus returns the wire form of err: its main category, every
// category it wraps, its message, the task, stack and panic of a task
// error, and its cause chain. nil for a nil error.
func ErrorStatus(err error) *corepb.ErrorStatus {
	if err == nil {
		return nil
	}
	st := &corepb.ErrorStatus{Message: err.Error()}
	var te *TaskError
	var re *RemoteError
	switch {
	case errors.As(err, &te):
		st.Task, st.Stack, st.Attempts = te.Task, te.Stack, int32(te.Attempts)
		if te.Panic != nil {
			st.Panic = fmt.Sprint(te.Panic)
		}
		st.Code, _ = codeOf(te.kind)
	case errors.As(err, &re):
		st.Task, st.Actor, st.Stack, st.Panic, st.Attempts = re.Task, re.Actor, re.Stack, re.Panic, int32(re.Attempts)
		st.Code = re.Code()
	}
	// Every category the whole error matches, the main one first.
	var all []corepb.ErrorCode
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			if st.Code == corepb.ErrorCode_ERROR_CODE_UNSPECIFIED {
				st.Code = c.code
			}
			if c.code != st.Code {
				all = append(all, c.code)
			}
		}
	}
	if st.Code != corepb.ErrorCode_ERROR_CODE_UNSPECIFIED {
		all = append([]corepb.ErrorCode{st.Code}, all...)
	}
	// The chain: each link, with the categories it wraps itself.
	link := err
	for i := 0; link != nil && i < maxErrorChain; i++ {
		c := &corepb.ErrorCause{Message: link.Error(), GoType: fmt.Sprintf("%T", link)}
		var next error
		for _, child := range unwrapAll(link) {
			if code, ok := codeOf(child); ok {
				c.Codes = append(c.Codes, code)
			} else if name, ok := sentinelName(child); ok {
				c.Sentinels = append(c.Sentinels, name)
			} else if next == nil {
				next = child
			}
		}
		if code, ok := codeOf(link); ok { // a bare sentinel
			c.Codes = append(c.Codes, code)
		}
		if name, ok := sentinelName(link); ok {
			c.Sentinels = append(c.Sentinels, name)
		}
		if re, ok := link.(*RemoteError); ok {
			c.Codes = append(c.Codes, re.codes...)
			for _, s := range re.sentinels {
				if name, ok := sentinelName(s); ok {
					c.Sentinels = append(c.Sentinels, name)
				}
			}
		}
		if i == 0 {
			c.Codes = all
			c.Sentinels = matchedSentinels(err)
		}
		st.Causes = append(st.Causes, c)
		link = next
	}
	return st
}

func unwrapAll(err error) []error {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		return u.Unwrap()
	case interface{ Unwrap() error }:
		if c := u.Unwrap(); c != nil {
			return []error{c}
		}
	}
	return nil
}

// ErrorFromStatus rebuilds the error an ErrorStatus describes (nil for nil).
func ErrorFromStatus(st *corepb.ErrorStatus) error {
	if st == nil {
		return nil
	}
	causes := st.GetCauses()
	if len(causes) > maxErrorChain {
		causes = causes[:maxErrorChain]
	}
	var next error
	for i := len(causes) - 1; i >= 1; i-- {
		c := causes[i]
		next = &RemoteError{Message: c.GetMessage(), GoType: c.GetGoType(), codes: knownCodes(c.GetCodes()),
			sentinels: knownSentinels(c.GetSentinels()), cause: next}
	}
	top := &RemoteError{Message: st.GetMessage(), Task: st.GetTask(), Actor: st.GetActor(), Stack: st.GetStack(),
		Panic: st.GetPanic(), Attempts: int(st.GetAttempts()), cause: next}
	if len(causes) > 0 {
		top.GoType = causes[0].GetGoType()
		top.codes = knownCodes(causes[0].GetCodes())
		top.sentinels = knownSentinels(causes[0].GetSentinels())
	}
	if len(top.codes) == 0 || top.codes[0] != st.GetCode() {
		if sentinelOf(st.GetCode()) != nil {
			top.codes = append([]corepb.ErrorCode{st.GetCode()}, top.codes...)
		}
	}
	if top.Message == "" {
		top.Message = "goray: remote error without a message"
	}
	return top
}

// knownCodes drops codes this build does not know (a newer peer's).
func knownCodes(codes []corepb.ErrorCode) []corepb.ErrorCode {
	out := make([]corepb.ErrorCode, 0, len(codes))
	for _, c := range codes {
		if sentinelOf(c) != nil {
			out = append(out, c)
		}
	}
	return out
}

// knownSentinels resolves registered sentinel names; unknown ones (not
// registered in this binary) are dropped.
func knownSentinels(names []string) []error {
	var out []error
	for _, n := range names {
		if s := sentinelNamed(n); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// EncodeError encodes err for another process (an ErrorStatus in protobuf);
// nil for a nil error.
func EncodeError(err error) []byte {
	if err == nil {
		return nil
	}
	b, merr := proto.Marshal(ErrorStatus(err))
	if merr != nil { // only invalid UTF-8 in a string field can do this
		b, _ = proto.Marshal(&corepb.ErrorStatus{Code: ErrorStatus(err).GetCode(), Message: fmt.Sprintf("%q", err.Error())})
	}
	return b
}

// DecodeError decodes what EncodeError wrote: nil for empty input, a
// *RemoteError otherwise, or an ErrInvalidInput error naming the problem
// when b is not an ErrorStatus.
func DecodeError(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var st corepb.ErrorStatus
	if err := proto.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: undecodable error status (%d bytes): %v", ErrInvalidInput, len(b), err)
	}
	return ErrorFromStatus(&st)
}
