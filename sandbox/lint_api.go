package sandbox

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/lint"
)

// PathLint lints the sandbox's current security-group state.
const PathLint = "/v1/lint"

// LintResponse is the lint of a running sandbox: the report of its live
// state (rules added or removed and groups joined or left through the
// control API included, NEVER_MATCHED from the per-rule hit counters) and,
// when asked, the explanation of one rule.
type LintResponse struct {
	Report *lint.Report `json:"report"`
	Why    *lint.Why    `json:"why,omitempty"`
}

// lint analyses the live firewall. It copies the state first (under the
// firewall's lock, group by group), so the analysis never holds the data
// path up.
func (s *Server) lint(w http.ResponseWriter, r *http.Request) {
	group, index, hasWhy, err := parseWhy(r.URL.Query().Get("why"))
	if err != nil {
		refuse(w, err)
		return
	}
	fw := s.lab.VPC.Firewall()
	names := make([]string, len(s.lab.Topology.Instances))
	for i, in := range s.lab.Topology.Instances {
		names[i] = in.Name
	}
	hits := lint.LiveHits(fw, names)
	rep, err := lint.Check(s.lab.Topology, lint.StateOf(fw, names), lint.Options{Hits: hits})
	if err != nil {
		refuse(w, err)
		return
	}
	resp := LintResponse{Report: rep}
	if hasWhy {
		if resp.Why, err = rep.Why(group, index); err != nil {
			refuse(w, &firewall.Error{Code: "InvalidParameter", Rule: -1, Field: "why", Value: r.URL.Query().Get("why"), Msg: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseWhy parses GROUP/INDEX ("" is none).
func parseWhy(s string) (group string, index int, ok bool, err error) {
	if s == "" {
		return "", 0, false, nil
	}
	g, i, found := strings.Cut(s, "/")
	n, aerr := strconv.Atoi(i)
	if !found || g == "" || aerr != nil || n < 0 {
		return "", 0, false, &firewall.Error{Code: "InvalidParameter", Rule: -1, Field: "why", Value: s,
			Allowed: "GROUP/INDEX, INDEX counting the group's rules in the file from 0", Msg: "not a rule"}
	}
	return g, n, true, nil
}

// Lint lints the sandbox's live state; why, when not "", is GROUP/INDEX of a
// rule to explain.
func (c *Client) Lint(ctx context.Context, why string) (LintResponse, error) {
	var out LintResponse
	p := PathLint
	if why != "" {
		p += "?why=" + url.QueryEscape(why)
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}
