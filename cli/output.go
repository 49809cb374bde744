package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"apiscopes/store"
)

// The JSON of --json. Field names are stable (docs/automation.md documents them):
// ids are numbers, times RFC 3339 in UTC, absent times left out, and a key's
// text appears only in the output of the command that made it.

// appJSON is an app.
type appJSON struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	Retired   []string  `json:"retired_scopes,omitempty"` // ids this apiscopes does not know: never granted, kept
	KeyCount  int       `json:"key_count"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Revision  uint64    `json:"revision"`
}

func newAppJSON(a store.App) appJSON {
	return appJSON{ID: a.ID, Name: a.Name, Scopes: a.Scopes.Strings(), Retired: a.Retired, KeyCount: a.Keys,
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt.UTC(), UpdatedBy: a.UpdatedBy, UpdatedAt: a.UpdatedAt.UTC(),
		Revision: a.Revision}
}

// appDetailJSON is an app with its keys and each scope's use (app show).
type appDetailJSON struct {
	appJSON
	Keys     []keyJSON      `json:"keys"`
	ScopeUse []scopeUseJSON `json:"scope_use"`
}

// scopeUseJSON is one scope of an app: granted or not, its last use, and
// how many checks were refused for lack of it.
type scopeUseJSON struct {
	Scope    string    `json:"scope"`
	Granted  bool      `json:"granted"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Denied   int64     `json:"denied"`
}

// keyJSON is a key: never its text.
type keyJSON struct {
	ID         uint64    `json:"id"`
	AppID      uint64    `json:"app_id"`
	App        string    `json:"app"`
	Name       string    `json:"name"`
	Hint       string    `json:"hint"`
	State      string    `json:"state"` // active, expiring, scheduled for deletion, expired
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	DeleteAt   time.Time `json:"delete_at,omitzero"`   // a rolled key's deletion
	AllowFrom  []string  `json:"allow_from,omitempty"` // the networks it may be used from; absent: any
}

func newKeyJSON(k store.Key, app string, now time.Time) keyJSON {
	return keyJSON{ID: k.ID, AppID: k.AppID, App: app, Name: k.Name, Hint: k.Hint, State: k.State(now).String(),
		CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utc(k.ExpiresAt),
		LastUsedAt: utc(k.LastUsedAt), DeleteAt: utc(k.DeleteAt), AllowFrom: store.FormatAllowFrom(k.AllowFrom)}
}

// policyJSON is the key policy (policy show, policy set): its rules, who
// set them when, the keys made before it that outlive it, and the requests
// to relax it waiting.
type policyJSON struct {
	MaxLifetime    map[string]string `json:"max_lifetime"` // "*" or a scope id → "30d"
	Approval       []string          `json:"approval"`
	ApprovalWindow string            `json:"approval_window"`
	Revision       uint64            `json:"revision"`
	UpdatedBy      string            `json:"updated_by,omitempty"`
	UpdatedAt      time.Time         `json:"updated_at,omitzero"`
	Beyond         []beyondJSON      `json:"keys_beyond_policy"`
}

// beyondJSON is a key that outlives the policy's maximum for its app.
type beyondJSON struct {
	App          string    `json:"app"`
	Key          keyJSON   `json:"key"`
	MaxLifetime  string    `json:"max_lifetime"`
	SetByScope   string    `json:"set_by_scope,omitempty"` // the scope whose maximum applies; absent: the default
	LifetimeEnds time.Time `json:"ends,omitzero"`          // when it stops working; absent: never
}

func newPolicyJSON(p store.Policy, beyond []store.BeyondPolicy, now time.Time) policyJSON {
	info := p.Info()
	out := policyJSON{MaxLifetime: info.MaxLifetime, Approval: info.Approval, ApprovalWindow: info.ApprovalWindow,
		Revision: p.Revision, UpdatedBy: p.UpdatedBy, UpdatedAt: utc(p.UpdatedAt), Beyond: []beyondJSON{}}
	if out.MaxLifetime == nil {
		out.MaxLifetime = map[string]string{}
	}
	if out.Approval == nil {
		out.Approval = []string{}
	}
	for _, b := range beyond {
		out.Beyond = append(out.Beyond, beyondJSON{App: b.App, Key: newKeyJSON(b.Key, b.App, now),
			MaxLifetime: store.FormatDuration(b.Max), SetByScope: string(b.Scope), LifetimeEnds: utc(b.Key.Ends())})
	}
	return out
}

// approvalJSON is a request waiting for another admin (approvals list).
type approvalJSON struct {
	ID           uint64            `json:"id"`
	Kind         string            `json:"kind"` // grant or policy
	AppID        uint64            `json:"app_id,omitempty"`
	App          string            `json:"app,omitempty"`
	Grant        []string          `json:"grant,omitempty"`
	Policy       *store.PolicyInfo `json:"policy,omitempty"` // the policy proposed
	RequestedBy  string            `json:"requested_by"`
	RequestedKey string            `json:"requested_key,omitempty"`
	RequestedAt  time.Time         `json:"requested_at"`
	ExpiresAt    time.Time         `json:"expires_at"`
	State        string            `json:"state"`           // waiting, stale or expired
	Stale        string            `json:"stale,omitempty"` // why it can no longer be approved
}

func newApprovalJSON(a store.Approval, now time.Time) approvalJSON {
	out := approvalJSON{ID: a.ID, Kind: string(a.Kind), AppID: a.AppID, App: a.AppName, Grant: a.Grant.Strings(),
		RequestedBy: a.RequestedBy, RequestedKey: a.RequestedKey, RequestedAt: a.RequestedAt.UTC(),
		ExpiresAt: a.ExpiresAt.UTC(), State: approvalState(a, now), Stale: a.Stale}
	if len(out.Grant) == 0 {
		out.Grant = nil
	}
	if a.Policy != nil {
		out.Policy = a.Policy.Info()
	}
	return out
}

// approvalState is where a request is: waiting, stale or expired.
func approvalState(a store.Approval, now time.Time) string {
	switch {
	case a.Expired(now):
		return "expired"
	case a.Stale != "":
		return "stale"
	}
	return "waiting"
}

// pendingJSON is what a command whose change waits for approval prints
// with --json: the request's id (the first, when the change opened more).
type pendingJSON struct {
	Pending  uint64   `json:"pending"`
	Requests []uint64 `json:"requests,omitempty"` // every request, when there are several
	App      *appJSON `json:"app,omitempty"`      // a change of an app: the app as saved meanwhile
}

// newKeyOutJSON is the answer of key create and key roll: the key's text,
// once, and its record.
type newKeyOutJSON struct {
	Key    string   `json:"key"`
	APIKey keyJSON  `json:"api_key"`
	Rolled *keyJSON `json:"rolled,omitempty"` // key roll: the key it replaces, as it now is
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// writeJSON writes v as indented JSON, with stored text made safe for a
// terminal as writeJSONLine does.
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(store.SafeJSON(b.Bytes()))
	return err
}

// writeJSONLine writes v as one line of JSON, as `verify --json` and
// `audit --json` print it: HTML characters as they are (the output is not
// HTML), and every control or bidi character in stored text as a \u escape
// (store.SafeJSON), so that JSON read on a terminal cannot drive it while
// every parser still reads the text as stored.
func writeJSONLine(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(store.SafeJSON(b.Bytes()))
	return err
}

// table writes aligned columns for people; every cell is made safe for a
// terminal.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(store.SafeText(c), "\t", " ")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// when is a moment as the command line shows it: in the zone TZ names
// (UTC by default), said so, in the format of every screen.
func (inv *invocation) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return store.FormatTime(t, inv.zone())
}

// zone is where the caller's times are shown: the zone their TZ names, or
// UTC. An unknown TZ is said once, and UTC stands.
func (inv *invocation) zone() *time.Location {
	if inv.loc != nil {
		return inv.loc
	}
	tz := inv.getenv("TZ")
	if inv.served != nil {
		tz = inv.served.TZ
	}
	loc, err := store.ZoneFromTZ(tz)
	if err != nil {
		fmt.Fprintf(inv.stderr, "apiscopes: %v; times are in UTC\n", err)
	}
	inv.loc = loc
	return loc
}
