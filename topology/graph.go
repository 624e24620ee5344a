package topology

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Graph formats.
const (
	GraphMermaid = "mermaid"
	GraphDot     = "dot"
)

// Graph renders the topology as a Mermaid flowchart or a Graphviz digraph:
// each vswitch a subgraph holding its instances (private address, EIP,
// groups) and NAT gateways; the internet a subgraph holding its hosts; an
// edge for each expectation (allow solid, block dashed red, refuse dotted),
// for each DNAT entry, and for each group reference (a source_group or
// destination_group rule: "sg-app → sg-db tcp 5432"), between group nodes.
// The output depends only on the file, in file order.
func Graph(t *Topology, format string) (string, error) {
	g := buildGraph(t)
	switch format {
	case GraphMermaid, "":
		return g.mermaid(), nil
	case GraphDot:
		return g.dot(), nil
	}
	return "", fmt.Errorf("graph format %q: unknown (allowed: %s, %s)", format, GraphMermaid, GraphDot)
}

// Edge styles.
const (
	edgeAllow  = "allow"  // solid
	edgeBlock  = "block"  // dashed red
	edgeRefuse = "refuse" // dotted
	edgeGroup  = "group"  // group reference: solid, blue
	edgeDNAT   = "dnat"   // port forward: solid, grey
)

type graphNode struct {
	id, label string
	shape     string // box, round, hexagon
}

type graphCluster struct {
	id, label string
	nodes     []graphNode
}

type graphEdge struct {
	from, to, label, style string
}

type graph struct {
	title    string
	vpc      graphCluster   // holds the vswitches
	vswitch  []graphCluster // inside vpc
	clusters []graphCluster // outside the VPC: internet, group references
	loose    []graphNode    // nodes outside any cluster: addresses only
	edges    []graphEdge
}

// graphIDs hands out node identifiers made of [A-Za-z0-9_], unique even
// when two names differ only in punctuation.
type graphIDs map[string]bool

func (ids graphIDs) make(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range name {
		if r < 128 && (r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	id := b.String()
	for n := 2; ids[id]; n++ {
		id = fmt.Sprintf("%s_%d", b.String(), n)
	}
	ids[id] = true
	return id
}

func buildGraph(t *Topology) *graph {
	ids := graphIDs{}
	g := &graph{title: cmpOr(t.Name, t.VPC.Name, "vpc")}
	byName := map[string]string{}     // instance, host or gateway name → node id
	byAddr := map[netip.Addr]string{} // private, EIP, NAT EIP, public → node id
	vsIndex := map[string]int{}       // vswitch → cluster index
	g.vpc = graphCluster{id: ids.make("vpc_", cmpOr(t.VPC.Name, "vpc")), label: strings.TrimSpace(t.VPC.Name + " " + t.VPC.CIDR.String())}
	for _, vs := range t.VSwitches {
		vsIndex[vs.Name] = len(g.vswitch)
		g.vswitch = append(g.vswitch, graphCluster{id: ids.make("vs_", vs.Name), label: fmt.Sprintf("vswitch %s %s", vs.Name, vs.CIDR)})
	}
	for _, in := range t.Instances {
		id := ids.make("i_", in.Name)
		lines := []string{in.Name, in.IP.String()}
		if in.EIP.IsValid() {
			lines = append(lines, "EIP "+in.EIP.String())
		}
		groups := in.SecurityGroups
		if len(groups) == 0 {
			groups = []string{"default"}
		}
		lines = append(lines, strings.Join(groups, ", "))
		byName[in.Name], byAddr[in.IP] = id, id
		if in.EIP.IsValid() {
			byAddr[in.EIP] = id
		}
		if i, ok := vsIndex[in.VSwitch]; ok {
			g.vswitch[i].nodes = append(g.vswitch[i].nodes, graphNode{id: id, label: strings.Join(lines, "\n"), shape: "box"})
		}
	}
	for _, gw := range t.NATGateways {
		id := ids.make("nat_", gw.Name)
		lines := []string{gw.Name, "NAT " + gw.EIP.String()}
		if len(gw.SNAT) > 0 {
			lines = append(lines, "SNAT "+strings.Join(gw.SNAT, ", "))
		}
		byName[gw.Name], byAddr[gw.EIP] = id, id
		if i, ok := vsIndex[gw.VSwitch]; ok {
			g.vswitch[i].nodes = append(g.vswitch[i].nodes, graphNode{id: id, label: strings.Join(lines, "\n"), shape: "hexagon"})
		}
	}
	if len(t.Internet.Hosts) > 0 {
		c := graphCluster{id: ids.make("", "internet"), label: "internet"}
		for _, h := range t.Internet.Hosts {
			id := ids.make("h_", h.Name)
			byName[h.Name], byAddr[h.IP] = id, id
			c.nodes = append(c.nodes, graphNode{id: id, label: h.Name + "\n" + h.IP.String(), shape: "round"})
		}
		g.clusters = append(g.clusters, c)
	}

	for _, gw := range t.NATGateways {
		for _, d := range gw.DNAT {
			if to, ok := byName[d.Instance]; ok {
				g.edges = append(g.edges, graphEdge{byName[gw.Name], to,
					fmt.Sprintf("dnat %s %d→%d", d.Protocol, d.PublicPort, d.Port), edgeDNAT})
			}
		}
	}

	// Group references: one node per group that refers or is referred to.
	groups := graphCluster{id: ids.make("", "security_groups"), label: "security group references"}
	groupID := map[string]string{}
	group := func(name string) string {
		if id, ok := groupID[name]; ok {
			return id
		}
		id := ids.make("sg_", name)
		groupID[name] = id
		groups.nodes = append(groups.nodes, graphNode{id: id, label: name, shape: "round"})
		return id
	}
	for _, sg := range t.SecurityGroups {
		for _, r := range sg.Rules {
			var from, to string
			switch {
			case r.Direction == "ingress" && r.SourceGroup != "":
				from, to = r.SourceGroup, sg.Name
			case r.Direction == "egress" && r.DestinationGroup != "":
				from, to = sg.Name, r.DestinationGroup
			default:
				continue
			}
			label := r.Protocol
			if r.PortRange != "" && r.PortRange != "-1/-1" {
				lo, hi, _ := strings.Cut(r.PortRange, "/")
				if lo == hi {
					label += " " + lo
				} else {
					label += " " + lo + "-" + hi
				}
			}
			if r.Policy == "drop" {
				label += " drop"
			}
			g.edges = append(g.edges, graphEdge{group(from), group(to), label, edgeGroup})
		}
	}
	if len(groups.nodes) > 0 {
		g.clusters = append(g.clusters, groups)
	}

	for _, e := range t.Expect {
		from, ok := byName[e.From]
		if !ok {
			continue
		}
		to, ok := byName[e.To]
		if a, err := netip.ParseAddr(e.To); err == nil {
			if to, ok = byAddr[a]; !ok {
				to = ids.make("addr_", a.String())
				byAddr[a] = to
				g.loose = append(g.loose, graphNode{id: to, label: a.String(), shape: "round"})
			}
		} else if !ok {
			continue
		}
		label := e.Protocol
		if e.Protocol != "icmp" {
			label += fmt.Sprintf("/%d", e.Port)
		}
		g.edges = append(g.edges, graphEdge{from, to, label + " " + e.Result, e.Result})
	}
	return g
}

func cmpOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// mermaid renders a Mermaid flowchart.
func (g *graph) mermaid() string {
	var b strings.Builder
	q := func(s string) string {
		s = strings.ReplaceAll(s, `"`, "#quot;")
		return `"` + strings.ReplaceAll(s, "\n", "<br/>") + `"`
	}
	node := func(indent string, n graphNode) {
		open, close := "[", "]"
		switch n.shape {
		case "round":
			open, close = "(", ")"
		case "hexagon":
			open, close = "{{", "}}"
		}
		fmt.Fprintf(&b, "%s%s%s%s%s\n", indent, n.id, open, q(n.label), close)
	}
	fmt.Fprintf(&b, "---\ntitle: %s\n---\nflowchart LR\n", strconv.Quote(g.title)) // YAML front matter
	g.walk(func(indent string, c graphCluster) {
		fmt.Fprintf(&b, "%ssubgraph %s[%s]\n", indent, c.id, q(c.label))
	}, node, func(indent string) { b.WriteString(indent + "end\n") })
	var styles []string
	for i, e := range g.edges {
		arrow := "-->"
		switch e.style {
		case edgeBlock:
			arrow = "-.->"
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke:red,stroke-dasharray:6 4", i))
		case edgeRefuse:
			arrow = "-.->"
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke-dasharray:1 4", i))
		case edgeGroup:
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke:blue", i))
		case edgeDNAT:
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke:grey", i))
		}
		fmt.Fprintf(&b, "  %s %s|%s| %s\n", e.from, arrow, q(e.label), e.to)
	}
	for _, s := range styles {
		b.WriteString(s + "\n")
	}
	return b.String()
}

// walk visits the clusters and nodes in the order both renderers write
// them — the VPC holding its vswitches, the outside clusters, the loose
// nodes — with each line's indentation.
func (g *graph) walk(open func(indent string, c graphCluster), node func(indent string, n graphNode), end func(indent string)) {
	cluster := func(indent string, c graphCluster) {
		open(indent, c)
		for _, n := range c.nodes {
			node(indent+"  ", n)
		}
		end(indent)
	}
	open("  ", g.vpc)
	for _, c := range g.vswitch {
		cluster("    ", c)
	}
	end("  ")
	for _, c := range g.clusters {
		cluster("  ", c)
	}
	for _, n := range g.loose {
		node("  ", n)
	}
}

// dot renders a Graphviz digraph.
func (g *graph) dot() string {
	var b strings.Builder
	q := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\\`)
		s = strings.ReplaceAll(s, `"`, `\"`)
		return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
	}
	shapes := map[string]string{"box": "box", "round": "ellipse", "hexagon": "hexagon"}
	node := func(indent string, n graphNode) {
		fmt.Fprintf(&b, "%s%s [label=%s, shape=%s];\n", indent, n.id, q(n.label), shapes[n.shape])
	}
	fmt.Fprintf(&b, "digraph %s {\n  rankdir=LR;\n", q(g.title))
	g.walk(func(indent string, c graphCluster) {
		fmt.Fprintf(&b, "%ssubgraph cluster_%s {\n%s  label=%s;\n", indent, c.id, indent, q(c.label))
	}, node, func(indent string) { b.WriteString(indent + "}\n") })
	attrs := map[string]string{
		edgeAllow:  "style=solid",
		edgeBlock:  "style=dashed, color=red, fontcolor=red",
		edgeRefuse: "style=dotted",
		edgeGroup:  "style=solid, color=blue, fontcolor=blue",
		edgeDNAT:   "style=solid, color=grey",
	}
	for _, e := range g.edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s, %s];\n", e.from, e.to, q(e.label), attrs[e.style])
	}
	b.WriteString("}\n")
	return b.String()
}
