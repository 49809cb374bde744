package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
)

// verifyRequest is the body of POST /v1/verify.
type verifyRequest struct {
	Key    string
	Scope  string
	Client netip.Addr // "client_ip": where the key is used from; invalid when not sent
}

// requestMembers are the only members a verify body may hold, each at most
// once, named exactly so.
var requestMembers = []string{"key", "scope", "client_ip"}

// badRequest is a body the API refuses: the status to answer and what to
// say. The message never repeats what the body held.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func refuse(format string, a ...any) *badRequest {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

// decodeRequest reads a verify body strictly: one JSON object whose members
// are "key", "scope" and "client_ip", each a string, each at most once, and
// nothing after it; "client_ip" an IP address, without a zone. encoding/json alone would take the last of two "scope"s and
// match "Scope", "SCOPE" or "ſcope" (it folds case, with Unicode's special
// cases), so two services reading the same body could disagree on what it
// asks; walking its tokens sees every member as it was sent.
func decodeRequest(body io.Reader) (verifyRequest, error) {
	var req verifyRequest
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	if err != nil {
		return req, jsonProblem(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return req, refuse("the body must be a JSON object")
	}
	// Inside the object, the end of the body is a body cut short.
	next := func() (json.Token, error) {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return tok, err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := next()
		if err != nil {
			return req, jsonProblem(err)
		}
		name, ok := tok.(string)
		if !ok { // json.Decoder refuses anything else here; kept for safety
			return req, refuse("the body is not valid JSON: a member's name must be a string")
		}
		if err := checkMember(name, seen); err != nil {
			return req, err
		}
		if tok, err = next(); err != nil {
			return req, jsonProblem(err)
		}
		value, ok := tok.(string)
		if !ok {
			return req, refuse("%q must be a string", name)
		}
		switch name {
		case "key":
			req.Key = value
		case "scope":
			req.Scope = value
		default:
			a, err := netip.ParseAddr(value)
			if err != nil || a.Zone() != "" {
				return req, refuse(`"client_ip" must be the IP address the key is used from, such as "192.0.2.7" or "2001:db8::7", without a zone`)
			}
			req.Client = a.Unmap()
		}
	}
	if _, err := next(); err != nil { // the closing brace
		return req, jsonProblem(err)
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return req, refuse("the body holds more than one JSON value; send one object")
	case !errors.Is(err, io.EOF):
		return req, jsonProblem(err)
	}
	return req, nil
}

// checkMember refuses a member that is not "key", "scope" or "client_ip"
// exactly, or one seen before. Only a name that is one of those is
// repeated.
func checkMember(name string, seen map[string]bool) error {
	for _, m := range requestMembers {
		switch {
		case name == m && seen[m]:
			return refuse("%q appears twice; send it once", m)
		case name == m:
			seen[m] = true
			return nil
		case strings.EqualFold(name, m):
			return refuse("a member's name differs from %q only in case: member names are exact; send %q", m, m)
		}
	}
	return refuse("%s", unknownMember(name))
}

// jsonProblem says what is wrong with a body, without echoing it: the body
// may hold a key.
func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &badRequest{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("the body is over %d bytes; send only the key and the scope", MaxBodyBytes)}
	case errors.Is(err, io.EOF):
		return refuse("the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return refuse("the body is not valid JSON: it ends too early")
	case errors.As(err, &syntax):
		return refuse("the body is not valid JSON: a syntax error at byte %d", syntax.Offset)
	}
	return refuse("the body could not be read")
}
