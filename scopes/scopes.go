// Package scopes is the catalogue of API scopes an app may be granted, and
// the set type that answers whether a scope is allowed. It is pure: no I/O.
package scopes

import (
	"fmt"
	"strings"
)

// ID is a scope's stable identifier, such as "workflow:deploy". IDs never
// change once published: scripts and other services depend on them.
type ID string

// Scope describes one API scope as the settings console shows it.
type Scope struct {
	ID          ID
	Name        string // as the product page writes it, e.g. "Deploy workflow"
	Resource    string // the group it is shown under: Workflows, Models or Guardrails
	Description string
}

// The ten scopes, in catalogue order.
const (
	WorkflowDeploy    ID = "workflow:deploy"
	WorkflowUndeploy  ID = "workflow:undeploy"
	WorkflowImport    ID = "workflow:import"
	WorkflowExport    ID = "workflow:export"
	ModelDeploy       ID = "model:deploy"
	ModelUndeploy     ID = "model:undeploy"
	ModelImport       ID = "model:import"
	ModelExport       ID = "model:export"
	GuardrailDeploy   ID = "guardrail:deploy"
	GuardrailUndeploy ID = "guardrail:undeploy"
)

// Resources lists the resource groups in the order the console shows them.
var Resources = []string{"Workflows", "Models", "Guardrails"}

var catalogue = []Scope{
	{WorkflowDeploy, "Deploy workflow", "Workflows", "Deploy a specific workflow into an environment. It allows the user to control the deployment process either synchronously or asynchronously."},
	{WorkflowUndeploy, "Undeploy workflow", "Workflows", "Undeploy a workflow that is deployed in an environment."},
	{WorkflowImport, "Import workflow", "Workflows", "Import a new workflow into the system."},
	{WorkflowExport, "Export workflow", "Workflows", "Export a workflow's configuration and associated data."},
	{ModelDeploy, "Deploy Model", "Models", "Deploy an open-source or fine-tuned model in the Ready to Deploy state."},
	{ModelUndeploy, "Undeploy Model", "Models", "Undeploy a model from the environment."},
	{ModelImport, "Import Model", "Models", "Import a model in chunks into the AI for Process environment."},
	{ModelExport, "Export Model", "Models", "Export a trained AI model from the system."},
	{GuardrailDeploy, "Deploy Guardrails", "Guardrails", "Deploy pre-defined guardrails to enhance security, compliance, and content moderation in AI interactions."},
	{GuardrailUndeploy, "Undeploy Guardrails", "Guardrails", "Remove the previously deployed guardrails that regulate AI interactions."},
}

// All returns the catalogue in display order. The slice is a copy.
func All() []Scope { return append([]Scope(nil), catalogue...) }

// Lookup returns the scope with the given id.
func Lookup(id ID) (Scope, bool) {
	if i := index(id); i >= 0 {
		return catalogue[i], true
	}
	return Scope{}, false
}

// UnknownError reports a scope id that is not in the catalogue.
type UnknownError struct{ ID string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown scope %q; valid scopes: %s", e.ID, strings.Join(IDs(), ", "))
}

// Parse turns text into a scope ID, refusing anything not in the catalogue.
// Surrounding space is ignored; case is not: ids are lower case.
func Parse(s string) (ID, error) {
	id := ID(strings.TrimSpace(s))
	if index(id) < 0 {
		return "", &UnknownError{ID: s}
	}
	return id, nil
}

// IDs lists every scope id in catalogue order.
func IDs() []string {
	ids := make([]string, len(catalogue))
	for i, sc := range catalogue {
		ids[i] = string(sc.ID)
	}
	return ids
}

func index(id ID) int {
	if i, ok := positions[id]; ok {
		return i
	}
	return -1
}

// positions is each scope's place in the catalogue, for a check that costs
// one map lookup.
var positions = func() map[ID]int {
	m := make(map[ID]int, len(catalogue))
	for i, sc := range catalogue {
		m[sc.ID] = i
	}
	return m
}()

// Index is id's place in the catalogue (0 for the first scope), or -1 for
// an id the catalogue does not hold. Count is how many places there are.
func Index(id ID) int { return index(id) }

// Count is how many scopes the catalogue holds.
func Count() int { return len(catalogue) }

// Known reports whether id is a scope of the catalogue.
func Known(id ID) bool { return index(id) >= 0 }
