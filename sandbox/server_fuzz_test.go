package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// FuzzControlRequest sends the control API arbitrary requests: any body to
// the verbs that change state (rule add/remove, group join/leave, conntrack
// flush) and any query to those that read it (conntrack, stats). Nothing
// panics; an answer is 200 with JSON, or a refusal (400, 404, 409) whose
// body lists errors that each carry a cloud code and no control character;
// and a refusal changes nothing: the audit log and every NIC's groups stay
// as they were. Probes, capture and down are left out: they run traffic,
// stream, or stop the server.
func FuzzControlRequest(f *testing.F) {
	f.Add(uint8(0), []byte(`{"group":"sg-spare","rule":{"direction":"ingress","protocol":"tcp","port_range":"22","source":"10.0.0.0/8"}}`), "")
	f.Add(uint8(1), []byte(`{"group":"sg-web","rule":{"direction":"ingress","protocol":"icmp","source":"10.0.0.0/16"}}`), "")
	f.Add(uint8(0), []byte(`{"group":"sg-web","rule":{"direction":"ingress","protocol":"tcp","port_range":"80/70"}}`), "")
	f.Add(uint8(0), []byte(`{"group":"sg-nope","rule":{"direction":"sideways","protocol":"tcp","priority":"0"}}`), "")
	f.Add(uint8(0), []byte(`{"group":"sg-web","rule":{"direction":"ingress","protocol":"tcp","source":"\u001b[2J"}}`), "")
	f.Add(uint8(2), []byte(`{"instance":"app-1","group":"sg-spare"}`), "")
	f.Add(uint8(3), []byte(`{"instance":"app-1","group":"sg-app"}`), "")
	f.Add(uint8(2), []byte(`{"instance":"nobody","group":"sg-spare"}`), "")
	f.Add(uint8(4), []byte(`{"instance":"web-1"}`), "")
	f.Add(uint8(5), []byte{}, "instance=web-1&limit=-3")
	f.Add(uint8(6), []byte{}, "instance=%ff")
	f.Add(uint8(0), []byte(`[`), "")
	f.Add(uint8(0), []byte(`{"group":1}`), "")
	lab, srv, _, _ := startLab(f)
	fw := lab.VPC.Firewall()
	groupsOf := func() map[string][]string {
		m := map[string][]string{}
		for _, in := range lab.Topology.Instances {
			m[in.Name] = fw.NICGroups(in.Name)
		}
		return m
	}
	paths := []struct{ method, path string }{
		{"POST", PathRuleAdd}, {"POST", PathRuleRemove}, {"POST", PathGroupJoin}, {"POST", PathGroupLeave},
		{"POST", PathConntrackFlush}, {"GET", PathConntrack}, {"GET", PathStats},
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte, query string) {
		p := paths[int(which)%len(paths)]
		target := p.path
		if query != "" {
			target += "?" + query
		}
		if _, err := url.ParseRequestURI(target); err != nil || strings.ContainsAny(target, " #") {
			return // not a request line a client can send
		}
		req := httptest.NewRequest(p.method, "http://sandbox"+target, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		audit, groups := fw.AuditLen(), groupsOf()
		rec := httptest.NewRecorder()
		srv.mux.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: 200 with a body that is not JSON: %q", p.method, target, rec.Body.Bytes())
			}
			return
		case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict:
		default:
			t.Fatalf("%s %s %q: status %d, want 200, 400, 404 or 409: %s", p.method, target, body, rec.Code, rec.Body.Bytes())
		}
		var ae APIError
		if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || len(ae.Errors) == 0 {
			t.Fatalf("%s %s %q: refusal %d without an error list: %s", p.method, target, body, rec.Code, rec.Body.Bytes())
		}
		for _, e := range ae.Errors {
			if e.Code == "" {
				t.Errorf("%s %s %q: an error without a code: %+v", p.method, target, body, e)
			}
			if i := strings.IndexFunc(e.Message, func(r rune) bool { return unicode.IsControl(r) }); i >= 0 {
				t.Errorf("%s %s %q: error text carries a control character: %q", p.method, target, body, e.Message)
			}
		}
		if n := fw.AuditLen(); n != audit {
			t.Fatalf("%s %s %q: refused (%d) but the audit log went from %d to %d records", p.method, target, body, rec.Code, audit, n)
		}
		for name, gs := range groupsOf() {
			if !slices.Equal(gs, groups[name]) {
				t.Fatalf("%s %s %q: refused (%d) but %s's groups went from %v to %v", p.method, target, body, rec.Code, name, groups[name], gs)
			}
		}
	})
}
