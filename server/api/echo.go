package api

import (
	"fmt"
	"strings"

	"apiscopes/scopes"
	"apiscopes/store"
)

// What a refusal says about a value the server did not recognise. It never
// repeats the value: a request may carry a key in any field, and an answer
// or a log line that quoted it would leak it to whoever reads them. Only a
// scope id, once validated, is repeated; a value shaped like a key is named
// by its hint, so its sender can tell which key went to the wrong place.

// unknownScope says that scope is not one of the scope ids.
func unknownScope(scope string) string {
	msg := "unknown scope; valid scopes: " + strings.Join(scopes.IDs(), ", ")
	if hint, ok := store.KeyShapeHint(scope); ok {
		msg = fmt.Sprintf(`the scope looks like an API key (%s): send the key as "key" or "Authorization: Bearer …", and one of the scope ids as "scope"; %s`, hint, msg)
	}
	return msg
}

// unknownMember says that a member of the body is not "key" or "scope".
func unknownMember(name string) string {
	msg := `unknown member: only "key" and "scope" are read`
	if hint, ok := store.KeyShapeHint(name); ok {
		msg = fmt.Sprintf(`a member's name looks like an API key (%s); %s`, hint, msg)
	}
	return msg
}
