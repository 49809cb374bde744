package scopes

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The catalogue is a published contract: ids, names and resource groups
// must match the design table exactly and in order.
func TestCatalogue(t *testing.T) {
	want := []Scope{
		{ID: "workflow:deploy", Name: "Deploy workflow", Resource: "Workflows"},
		{ID: "workflow:undeploy", Name: "Undeploy workflow", Resource: "Workflows"},
		{ID: "workflow:import", Name: "Import workflow", Resource: "Workflows"},
		{ID: "workflow:export", Name: "Export workflow", Resource: "Workflows"},
		{ID: "model:deploy", Name: "Deploy Model", Resource: "Models"},
		{ID: "model:undeploy", Name: "Undeploy Model", Resource: "Models"},
		{ID: "model:import", Name: "Import Model", Resource: "Models"},
		{ID: "model:export", Name: "Export Model", Resource: "Models"},
		{ID: "guardrail:deploy", Name: "Deploy Guardrails", Resource: "Guardrails"},
		{ID: "guardrail:undeploy", Name: "Undeploy Guardrails", Resource: "Guardrails"},
	}
	got := All()
	if len(got) != len(want) {
		t.Fatalf("All() has %d scopes, want %d", len(got), len(want))
	}
	seen := map[ID]bool{}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Name != w.Name || g.Resource != w.Resource {
			t.Errorf("All()[%d] = {%q %q %q}, want {%q %q %q}", i, g.ID, g.Name, g.Resource, w.ID, w.Name, w.Resource)
		}
		if g.Description == "" {
			t.Errorf("%s has no description", g.ID)
		}
		if seen[g.ID] {
			t.Errorf("duplicate id %s", g.ID)
		}
		seen[g.ID] = true
		if !slices.Contains(Resources, g.Resource) {
			t.Errorf("%s: resource %q not in Resources %v", g.ID, g.Resource, Resources)
		}
		if l, ok := Lookup(w.ID); !ok || l != g {
			t.Errorf("Lookup(%q) = %v, %v; want %v, true", w.ID, l, ok, g)
		}
	}
	wantIDs := make([]string, len(want))
	for i, w := range want {
		wantIDs[i] = string(w.ID)
	}
	if ids := IDs(); !slices.Equal(ids, wantIDs) {
		t.Errorf("IDs() = %v, want %v", ids, wantIDs)
	}
	if !slices.Equal(Resources, []string{"Workflows", "Models", "Guardrails"}) {
		t.Errorf("Resources = %v", Resources)
	}
	if _, ok := Lookup("workflow:delete"); ok {
		t.Error(`Lookup("workflow:delete") found a scope`)
	}
}

func TestAllReturnsCopy(t *testing.T) {
	a := All()
	a[0].Name = "changed"
	if All()[0].Name != "Deploy workflow" {
		t.Fatal("modifying the result of All changed the catalogue")
	}
}

func TestConstantsMatchCatalogue(t *testing.T) {
	consts := []ID{WorkflowDeploy, WorkflowUndeploy, WorkflowImport, WorkflowExport,
		ModelDeploy, ModelUndeploy, ModelImport, ModelExport, GuardrailDeploy, GuardrailUndeploy}
	for i, sc := range All() {
		if consts[i] != sc.ID {
			t.Errorf("constant %d = %q, catalogue has %q", i, consts[i], sc.ID)
		}
	}
}

func TestParse(t *testing.T) {
	for _, id := range IDs() {
		for _, in := range []string{id, " " + id, id + "  ", "\t" + id + "\n"} {
			got, err := Parse(in)
			if err != nil || string(got) != id {
				t.Errorf("Parse(%q) = %q, %v; want %q, nil", in, got, err, id)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"workflow:delete", "", "WORKFLOW:DEPLOY", "workflow", "workflow:deploy,model:deploy", "workflow: deploy"} {
		t.Run(in, func(t *testing.T) {
			got, err := Parse(in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, nil; want an error", in, got)
			}
			if got != "" {
				t.Errorf("Parse(%q) returned id %q with its error", in, got)
			}
			var ue *UnknownError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %T is not *UnknownError", in, err)
			}
			if ue.ID != in {
				t.Errorf("UnknownError.ID = %q, want %q", ue.ID, in)
			}
			msg := err.Error()
			for _, id := range IDs() {
				if !strings.Contains(msg, id) {
					t.Errorf("error %q does not list valid id %s", msg, id)
				}
			}
		})
	}
}

func TestParseSet(t *testing.T) {
	s, err := ParseSet([]string{"model:export", " workflow:deploy", "model:export"})
	if err != nil {
		t.Fatal(err)
	}
	if want := NewSet(WorkflowDeploy, ModelExport); s != want {
		t.Errorf("ParseSet = %v, want %v", s, want)
	}
	if s, err := ParseSet(nil); err != nil || !s.IsEmpty() {
		t.Errorf("ParseSet(nil) = %v, %v; want empty, nil", s, err)
	}
	s, err = ParseSet([]string{"workflow:deploy", "workflow:delete"})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.ID != "workflow:delete" {
		t.Errorf("ParseSet with an unknown id: err = %v, want *UnknownError for workflow:delete", err)
	}
	if s != 0 {
		t.Errorf("ParseSet with an unknown id returned set %v", s)
	}
}

func TestSetOperations(t *testing.T) {
	var s Set
	if !s.IsEmpty() || s.Len() != 0 || s.IDs() != nil || s.Names() != nil {
		t.Fatalf("zero Set is not empty: %v", s)
	}
	s = s.With(ModelImport).With(WorkflowDeploy).With(ModelImport)
	if s.Len() != 2 || s.IsEmpty() {
		t.Fatalf("Len = %d, IsEmpty = %v after adding two scopes", s.Len(), s.IsEmpty())
	}
	if !s.Allows(ModelImport) || !s.Allows(WorkflowDeploy) || s.Allows(ModelExport) {
		t.Errorf("Allows wrong for %v", s)
	}
	if got := s.IDs(); !slices.Equal(got, []ID{WorkflowDeploy, ModelImport}) {
		t.Errorf("IDs() = %v, want catalogue order", got)
	}
	if got := s.Names(); !slices.Equal(got, []string{"Deploy workflow", "Import Model"}) {
		t.Errorf("Names() = %v", got)
	}
	if got := s.Strings(); !slices.Equal(got, []string{"workflow:deploy", "model:import"}) {
		t.Errorf("Strings() = %v", got)
	}
	if got := s.String(); got != "workflow:deploy,model:import" {
		t.Errorf("String() = %q", got)
	}

	s2 := s.Without(WorkflowDeploy)
	if s2.Allows(WorkflowDeploy) || !s2.Allows(ModelImport) || s2.Len() != 1 {
		t.Errorf("Without: %v", s2)
	}
	if !s.Allows(WorkflowDeploy) {
		t.Error("Without changed the original set; Set must be a value")
	}
	if s.Without(GuardrailDeploy) != s {
		t.Error("Without of an absent scope changed the set")
	}

	if tg := s.Toggle(GuardrailDeploy); !tg.Allows(GuardrailDeploy) || tg.Len() != 3 {
		t.Errorf("Toggle on: %v", tg)
	}
	if tg := s.Toggle(ModelImport); tg.Allows(ModelImport) || tg.Len() != 1 {
		t.Errorf("Toggle off: %v", tg)
	}
	if s.Toggle(ModelExport).Toggle(ModelExport) != s {
		t.Error("Toggle twice is not the identity")
	}

	// Unknown ids are ignored, never granted.
	for _, bad := range []ID{"", "workflow:delete", "WORKFLOW:DEPLOY"} {
		if s.With(bad) != s || s.Without(bad) != s || s.Toggle(bad) != s {
			t.Errorf("an unknown id %q changed the set", bad)
		}
		if Full().Allows(bad) {
			t.Errorf("Full allows unknown id %q", bad)
		}
	}
	if NewSet("workflow:delete", ModelExport) != NewSet(ModelExport) {
		t.Error("NewSet kept an unknown id")
	}

	full := Full()
	if full.Len() != 10 {
		t.Errorf("Full().Len() = %d", full.Len())
	}
	for _, sc := range All() {
		if !full.Allows(sc.ID) {
			t.Errorf("Full does not allow %s", sc.ID)
		}
	}
	if got := full.IDs(); len(got) != 10 {
		t.Errorf("Full().IDs() = %v", got)
	}
}

func TestSetDiff(t *testing.T) {
	tests := []struct {
		name           string
		from, to       Set
		added, removed Set
	}{
		{"same", NewSet(ModelDeploy), NewSet(ModelDeploy), 0, 0},
		{"add", NewSet(ModelDeploy), NewSet(ModelDeploy, ModelExport), NewSet(ModelExport), 0},
		{"remove", NewSet(ModelDeploy, ModelExport), NewSet(ModelExport), 0, NewSet(ModelDeploy)},
		{"swap", NewSet(WorkflowDeploy, GuardrailDeploy), NewSet(GuardrailDeploy, GuardrailUndeploy),
			NewSet(GuardrailUndeploy), NewSet(WorkflowDeploy)},
		{"empty to full", 0, Full(), Full(), 0},
		{"full to empty", Full(), 0, 0, Full()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, removed := tt.from.Diff(tt.to)
			if added != tt.added || removed != tt.removed {
				t.Errorf("Diff = +%v -%v, want +%v -%v", added, removed, tt.added, tt.removed)
			}
		})
	}
}

func TestSetSummary(t *testing.T) {
	workflows := NewSet(WorkflowDeploy, WorkflowUndeploy, WorkflowImport, WorkflowExport)
	models := NewSet(ModelDeploy, ModelUndeploy, ModelImport, ModelExport)
	tests := []struct {
		name string
		set  Set
		want string
	}{
		{"empty", 0, "none"},
		{"workflows and models", workflows | models, "Workflows, Models"},
		{"partial models", NewSet(ModelDeploy, ModelExport), "Models 2/4"},
		{"one guardrail", NewSet(GuardrailUndeploy), "Guardrails 1/2"},
		{"full", Full(), "Workflows, Models, Guardrails"},
		{"mixed", NewSet(WorkflowExport, ModelDeploy, ModelUndeploy, ModelImport, ModelExport, GuardrailDeploy),
			"Workflows 1/4, Models, Guardrails 1/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.set.Summary(); got != tt.want {
				t.Errorf("Summary() = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that every id it accepts is
// a catalogue id that parses back to itself.
func FuzzParse(f *testing.F) {
	for _, id := range IDs() {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			var ue *UnknownError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %T is not *UnknownError", s, err)
			}
			if id != "" {
				t.Fatalf("Parse(%q) returned %q with an error", s, id)
			}
			return
		}
		if _, ok := Lookup(id); !ok {
			t.Fatalf("Parse(%q) = %q, which Lookup does not know", s, id)
		}
		again, err := Parse(string(id))
		if err != nil || again != id {
			t.Fatalf("Parse(%q) = %q, %v; want it to round-trip", id, again, err)
		}
		if string(id) != strings.TrimSpace(s) {
			t.Fatalf("Parse(%q) = %q, not the trimmed input", s, id)
		}
		if !NewSet(id).Allows(id) {
			t.Fatalf("NewSet(%q) does not allow it", id)
		}
	})
}
