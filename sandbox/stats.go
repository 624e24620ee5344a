package sandbox

import (
	"cmp"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/firewall"
)

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }

func sortEntries(es []ConntrackEntry) {
	slices.SortFunc(es, func(a, b ConntrackEntry) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B))
	})
}

// stats reads every NIC's counters and policy hits; nothing on the data
// path is counted twice for it.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	fw := s.lab.VPC.Firewall()
	t := s.lab.Topology
	only := r.URL.Query().Get("instance")
	if only != "" && t.CheckName(only, false) != nil {
		refuse(w, &firewall.Error{Code: ErrInstanceNotFound, Rule: -1, Field: "instance", Value: only,
			Msg: "no such instance or internet host", Allowed: strings.Join(s.instanceNames(), ", ")})
		return
	}
	resp := StatsResponse{NICs: []NICStats{}, Conntrack: fw.Conntrack().Stats()}
	add := func(name, kind string, addr netip.Addr) {
		if only != "" && name != only {
			return
		}
		st, ok := s.lab.VPC.NICStats(name)
		if !ok {
			return
		}
		n := NICStats{Name: name, Kind: kind, Address: addr.String(), TxFrames: st.TxFrames, TxBytes: st.TxBytes,
			RxFrames: st.RxFrames, RxBytes: st.RxBytes, Drops: st.Drops}
		if nic, ok := fw.NIC(name); ok {
			pol := nic.Policy()
			n.Groups = pol.Groups
			n.Rules = append(policyRuleHits(pol.Ingress), policyRuleHits(pol.Egress)...)
		}
		resp.NICs = append(resp.NICs, n)
	}
	for _, in := range t.Instances {
		add(in.Name, "instance", in.IP)
	}
	for _, h := range t.Internet.Hosts {
		add(h.Name, "internet_host", h.IP)
	}
	writeJSON(w, http.StatusOK, resp)
}

// policyRuleHits lists a policy's entries in decision order, then its fallback,
// each with its hits.
func policyRuleHits(p *firewall.Policy) []RuleHits {
	if p == nil {
		return nil
	}
	hits := p.Hits()
	out := make([]RuleHits, 0, len(p.Entries)+1)
	for i, e := range p.Entries {
		h := RuleHits{Direction: p.Dir.String(), Group: e.Group, Rule: e.Rule, Hits: hits[i]}
		switch e.Code {
		case firewall.SGInnerAccept:
			h.Kind, h.Policy, h.Text = "inner_accept", "accept", "members of "+e.Group+" reach each other (inner_access accept)"
		case firewall.SGInnerDrop:
			h.Kind, h.Policy, h.Text = "inner_drop", "drop", "members of "+e.Group+" do not reach each other (inner_access drop)"
		default:
			h.Kind = "rule"
			if e.R.IsSystem() {
				h.Kind = "system"
			}
			h.Policy, h.Priority, h.Description, h.ManagedBy, h.Text = e.R.Policy.String(), e.R.Priority, e.R.Description, e.R.ManagedBy, e.R.String()
		}
		out = append(out, h)
	}
	fb := RuleHits{Direction: p.Dir.String(), Rule: -1, Kind: "default", Hits: hits[len(hits)-1], Text: "implicit default: " + p.Fallback.String()}
	fb.Policy = "drop"
	if p.Fallback.Allows() {
		fb.Policy = "accept"
	}
	return append(out, fb)
}
