package main

import (
	"fmt"
	"strings"
)

// largeShardScenario generates a VPC of n instances (5 roles, 2 vswitches)
// with group references, an explicit drop, a group without inner access, instances
// without the service their port is open for, and per-instance shard:
// overrides, and about 1.5 expectations per instance, each expected result
// derived from the rules below (not from a run): allow, block and refuse
// over TCP, UDP and ICMP.
//
//	sg-web   ingress tcp 80 from 10.0.0.0/16; icmp from sg-ops
//	sg-app   ingress tcp 8080 from sg-web; udp 5353 from sg-web
//	sg-db    ingress tcp 5432 from sg-web: drop (priority 1); tcp 5432 from sg-app (priority 2)
//	sg-cache inner_access drop; ingress udp 11211 from sg-app
//	sg-ops   none (egress of basic groups is open by default)
//
// Every fifth web, app and db instance runs no service: what its rules
// let through is refused.
func largeShardScenario(n, shards int) string {
	roles := []string{"web", "app", "db", "cache", "ops"}
	var b strings.Builder
	b.WriteString(`version: 1
name: large-sharded
vpc: {cidr: 10.0.0.0/16}
vswitches:
  - {name: vsw-a, cidr: 10.0.1.0/24}
  - {name: vsw-b, cidr: 10.0.2.0/24}
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80, source: 10.0.0.0/16}
      - {direction: ingress, protocol: icmp, source_group: sg-ops}
  - name: sg-app
    rules:
      - {direction: ingress, protocol: tcp, port_range: 8080, source_group: sg-web}
      - {direction: ingress, protocol: udp, port_range: 5353, source_group: sg-web}
  - name: sg-db
    rules:
      - {direction: ingress, policy: drop, priority: 1, protocol: tcp, port_range: 5432, source_group: sg-web, description: "web never talks to the db"}
      - {direction: ingress, priority: 2, protocol: tcp, port_range: 5432, source_group: sg-app}
  - name: sg-cache
    inner_access: drop
    rules:
      - {direction: ingress, protocol: udp, port_range: 11211, source_group: sg-app}
  - {name: sg-ops}
instances:
`)
	byRole := map[string][]string{}
	served := map[string]bool{}
	for i := range n {
		role := roles[i%len(roles)]
		name := fmt.Sprintf("%s-%d", role, i/len(roles))
		byRole[role] = append(byRole[role], name)
		vsw := "vsw-a"
		if i%2 == 1 {
			vsw = "vsw-b"
		}
		svc := ""
		k := len(byRole[role]) - 1
		serves := k%5 != 4 || role == "cache" || role == "ops"
		if serves {
			served[name] = true
			switch role {
			case "web":
				svc = ", services: [{kind: http, port: 80}]"
			case "app":
				svc = ", services: [{kind: http, port: 8080}, {kind: echo, port: 5353, protocol: udp}]"
			case "db":
				svc = ", services: [{kind: echo, port: 5432}]"
			case "cache":
				svc = ", services: [{kind: echo, port: 11211, protocol: udp}]"
			}
		}
		shard := ""
		if i%7 == 3 {
			shard = fmt.Sprintf(", shard: %d", (i/7)%shards)
		}
		fmt.Fprintf(&b, "  - {name: %s, vswitch: %s, security_groups: [sg-%s]%s%s}\n", name, vsw, role, svc, shard)
	}
	b.WriteString("expect:\n")
	pick := func(role string, k int) string { l := byRole[role]; return l[k%len(l)] }
	// open: the rules let it through; then a served port allows, else refuses.
	open := func(to string) string {
		if served[to] {
			return "allow"
		}
		return "refuse"
	}
	m := len(byRole["web"])
	for k := range m {
		web, app, db, cache, ops := pick("web", k), pick("app", k+1), pick("db", k+2), pick("cache", k+3), pick("ops", k+4)
		web2, db2, cache2 := pick("web", k+1), pick("db", k+3), pick("cache", k+4)
		for _, e := range []struct{ from, to, proto, port, result string }{
			{ops, web, "tcp", "80", open(web)},       // by CIDR
			{web, app, "tcp", "8080", open(app)},     // by group reference
			{app, db, "tcp", "5432", open(db)},       // priority 2 accept
			{web, db, "tcp", "5432", "block"},        // priority 1 drop
			{ops, app, "tcp", "8080", "block"},       // no rule: default deny
			{web, app, "udp", "5353", open(app)},     // UDP by group reference
			{ops, app, "udp", "5353", "block"},       // UDP, no rule
			{app, cache, "udp", "11211", "allow"},    // by reference, into a group without inner access
			{cache2, cache, "udp", "11211", "block"}, // inner_access: drop
			{ops, web, "icmp", "", "allow"},          // ICMP by group reference
			{app, web, "icmp", "", "block"},          // ICMP, no rule
			{db2, db, "tcp", "5432", open(db)},       // basic group: inner accept
			{web2, web, "tcp", "80", open(web)},      // inner accept and CIDR alike
			{cache, ops, "tcp", "22", "block"},       // ops opens nothing
		} {
			if (k+len(e.to))%2 == 1 && e.result == "allow" && k%3 == 0 {
				continue // thin out: about 1.5 expectations per instance
			}
			port := ""
			if e.port != "" {
				port = ", port: " + e.port
			}
			if e.from == e.to {
				continue
			}
			fmt.Fprintf(&b, "  - {from: %s, to: %s, protocol: %s%s, result: %s}\n", e.from, e.to, e.proto, port, e.result)
		}
	}
	return b.String()
}
