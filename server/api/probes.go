package api

import (
	"net/http"

	"apiscopes/store"
)

// Probes returns the handlers of GET /livez and GET /readyz. /livez
// answers 200 while the process runs and serves. /readyz answers 200 only
// while the server can answer truthfully, its store open, and 503 from the
// moment the store starts to close; /healthz is the same as /readyz. Both
// answer JSON, {"status": "ok"} or {"status": "unavailable", …}; a replica
// whose database moved past its schema {"status": "upgrade_required", …};
// one whose database its check found damaged {"status": "damaged", …}.
func Probes(st *store.Store) (live, ready http.HandlerFunc) {
	live = func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, probeBody{Status: "ok"})
	}
	ready = func(w http.ResponseWriter, _ *http.Request) {
		if st == nil || !st.IsOpen() {
			writeJSON(w, http.StatusServiceUnavailable, probeBody{Status: "unavailable",
				Error: "the database is closed: this server is stopping"})
			return
		}
		if err := st.Damaged(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, probeBody{Status: "damaged",
				Error: "the database was found damaged: restore it from a backup (see docs/operations.md)"})
			return
		}
		if err := st.Outdated(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, probeBody{Status: "upgrade_required",
				Error: "the database was upgraded to a newer schema than this server knows: upgrade this replica"})
			return
		}
		if !st.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, probeBody{Status: "unavailable",
				Error: "cannot confirm the keys are current within --max-staleness: the cluster is out of reach"})
			return
		}
		writeJSON(w, http.StatusOK, probeBody{Status: "ok"})
	}
	return live, ready
}

type probeBody struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}
