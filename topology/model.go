package topology

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// Version is the only schema version this package reads.
const Version = 1

// Topology is one topology file after loading: defaults filled, references
// checked and every instance address assigned.
type Topology struct {
	Version        int             `yaml:"version" topo:"required,min=1,max=1" doc:"Schema version; 1 is the only version today."`
	Name           string          `yaml:"name" doc:"Optional label shown in reports."`
	Quotas         Quotas          `yaml:"quotas" doc:"Security-group quotas; they bind every group and NIC."`
	Platform       Platform        `yaml:"platform" doc:"Platform-wide behaviour."`
	Conntrack      Conntrack       `yaml:"conntrack" doc:"Connection tracking of the VPC: table size and idle timeout."`
	VPC            VPC             `yaml:"vpc" doc:"The VPC; required unless an import gives it."`
	VSwitches      []VSwitch       `yaml:"vswitches" doc:"At least one vswitch, here or from an import; each inside the VPC CIDR, no two overlapping."`
	SecurityGroups []SecurityGroup `yaml:"security_groups" doc:"Security groups. An instance that lists none joins the system group \"default\"."`
	Instances      []Instance      `yaml:"instances" doc:"Instances (one NIC each)."`
	NATGateways    []NATGateway    `yaml:"nat_gateways" doc:"NAT gateways: SNAT for vswitches, DNAT port forwarding."`
	Internet       Internet        `yaml:"internet" doc:"Hosts outside the VPC, with public addresses."`
	VPNGateways    []VPNGateway    `yaml:"vpn_gateways" json:",omitempty" doc:"WireGuard VPN gateways: real machines join the VPC as peers with addresses of a client CIDR, and security groups decide their traffic."`
	Expect         []Expect        `yaml:"expect" doc:"Probes checked by vpclab test."`
	Imports        []Import        `yaml:"imports" json:",omitempty" doc:"Configurations to import (Terraform, cloud API JSON, ROS, AWS), read afresh on every load and merged into this file."`
	Cluster        Cluster         `yaml:"cluster" json:",omitzero" doc:"A sharded VPC's shards: their number, public keys and WireGuard endpoints, for vpclab up --shard I; flags override."`

	// File is the file name given to Load, used in error positions.
	File string `yaml:"-"`
	// Warnings are what Load corrected on its own (see Warning), in file
	// order; the file is valid.
	Warnings []*Warning `yaml:"-" json:",omitempty"`

	pos     map[string]Position // field path → position of its value
	origins map[string]Origin   // entity path → origin, for entities merged from imports
	aliases aliasIndex          // short names of imported entities (merge.go)
}

// Import is one configuration merged into the topology (imports:).
type Import struct {
	Format          string            `yaml:"format" topo:"required,name" doc:"The input's format: terraform, aliyun, ros or aws (the formats this build registers)."`
	Path            string            `yaml:"path" topo:"required" doc:"A file or directory, relative to this file's directory."`
	Vars            map[string]string `yaml:"vars" doc:"terraform, aws: variables, as --var name=value (a value is a string, or HCL text for lists and maps)."`
	VarFiles        []string          `yaml:"var_files" doc:"terraform, aws: .tfvars or .tfvars.json files, relative to this file's directory."`
	Params          map[string]string `yaml:"params" doc:"ros: template parameters, as --param name=value."`
	SkipUnsupported bool              `yaml:"skip_unsupported" doc:"Leave out what the input holds and vpclab does not support (IPv6 rules, port lists, ...), each listed as a warning, instead of failing."`
	Services        []Service         `yaml:"services" doc:"What listens in each imported instance the input gives no services; default [{kind: echo, port: all}]; [] for nothing."`
}

// Quotas are the security-group quotas of docs/semantics.md §6.
type Quotas struct {
	RulesPerGroup int `yaml:"rules_per_group" topo:"default=100,min=1,max=10000" doc:"Rules per group, ingress and egress counted together."`
	GroupsPerNIC  int `yaml:"groups_per_nic" topo:"default=5,min=1,max=100" doc:"Security groups per NIC."`
}

// Firewall returns the quotas as the firewall takes them.
func (q Quotas) Firewall() firewall.Quotas {
	return firewall.Quotas{RulesPerGroup: q.RulesPerGroup, GroupsPerNIC: q.GroupsPerNIC}
}

// Platform holds platform-wide behaviour.
type Platform struct {
	BlockOutboundSMTP bool `yaml:"block_outbound_smtp" topo:"default=true" doc:"TCP to port 25 on the internet is dropped whatever the rules say; intranet port 25 is not affected."`
}

// Conntrack configures the VPC's connection-tracking table
// (docs/semantics.md §4).
type Conntrack struct {
	MaxEntries  int           `yaml:"max_entries" topo:"default=1000000,min=1,max=100000000" doc:"Bound of the table. When it is full, new connections are dropped (CONNTRACK_FULL) and counted; tracked ones keep working."`
	IdleTimeout time.Duration `yaml:"idle_timeout" topo:"default=910s,min=1,max=604800" doc:"A tracked flow that sees no packet for this long ends, every protocol alike: whole seconds (910) or a duration (15m10s, 1h)."`
}

// Firewall returns the settings as the firewall takes them.
func (c Conntrack) Firewall() firewall.ConntrackConfig {
	return firewall.ConntrackConfig{MaxEntries: c.MaxEntries, IdleTimeout: c.IdleTimeout}
}

// VPC is the private network.
type VPC struct {
	Name   string       `yaml:"name" topo:"name" doc:"Optional name."`
	CIDR   netip.Prefix `yaml:"cidr" topo:"required" doc:"IPv4 private range (inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)."`
	Origin Origin       `yaml:"origin" json:",omitzero" doc:"Where an imported VPC came from: file, line, column, resource (set by an import; optional by hand)."`
}

// VSwitch is a subnet of the VPC.
type VSwitch struct {
	Name   string       `yaml:"name" topo:"required,name" doc:"Unique vswitch name."`
	CIDR   netip.Prefix `yaml:"cidr" topo:"required" doc:"Inside the VPC CIDR, /29 or larger, overlapping no other vswitch."`
	Origin Origin       `yaml:"origin" json:",omitzero" doc:"Where an imported vswitch came from: file, line, column, resource (set by an import; optional by hand)."`
}

// SecurityGroup is a security group as the file describes it.
type SecurityGroup struct {
	Name        string `yaml:"name" topo:"required,name" doc:"Unique group name."`
	Type        string `yaml:"type" topo:"default=basic,enum=basic|enterprise" doc:"basic (default) or enterprise."`
	InnerAccess string `yaml:"inner_access" topo:"enum=accept|drop" doc:"Basic groups: accept (default) or drop between members. Enterprise groups are always drop."`
	Rules       []Rule `yaml:"rules" doc:"Rules; ingress and egress count together against quotas.rules_per_group."`
	Origin      Origin `yaml:"origin" json:",omitzero" doc:"Where an imported group came from: file, line, column, resource (set by an import; optional by hand)."`
}

// Rule is one security-group rule (docs/semantics.md §1). After Load, Policy,
// Priority, Protocol, PortRange and NICType hold their normalized values
// (defaults filled, lower case, "80" written as "80/80", "-1/-1" for
// protocols without ports).
type Rule struct {
	Direction        string `yaml:"direction" topo:"required,enum=ingress|egress" doc:"ingress or egress."`
	Policy           string `yaml:"policy" topo:"default=accept,enum=accept|drop" doc:"accept (default) or drop."`
	Priority         int    `yaml:"priority" topo:"default=1,min=1,max=100" doc:"1..100, 1 is the highest (default 1)."`
	Protocol         string `yaml:"protocol" topo:"required,enum=tcp|udp|icmp|gre|all" doc:"tcp, udp, icmp, gre or all (any case)."`
	PortRange        string `yaml:"port_range" topo:"scalar" doc:"Destination ports \"start/end\" (1..65535); \"80\" means 80/80; \"-1/-1\" for icmp, gre and all."`
	Source           string `yaml:"source" doc:"Ingress: a CIDR or address (or source_group)."`
	SourceGroup      string `yaml:"source_group" topo:"name" doc:"Ingress: a group, meaning its members' private addresses."`
	Destination      string `yaml:"destination" doc:"Egress: a CIDR or address (or destination_group)."`
	DestinationGroup string `yaml:"destination_group" topo:"name" doc:"Egress: a group, meaning its members' private addresses."`
	SourcePortRange  string `yaml:"source_port_range" topo:"scalar" doc:"Optional source ports \"start/end\" (five-tuple rules); default any."`
	LocalCIDR        string `yaml:"local_cidr" doc:"Optional: restricts the instance-side address."`
	NICType          string `yaml:"nic_type" topo:"default=intranet,enum=intranet|internet" doc:"intranet (default). internet is refused in a VPC: intranet rules apply to internet traffic too."`
	Description      string `yaml:"description" doc:"Free text shown in explanations."`
	ManagedBy        string `yaml:"managed_by" topo:"name" doc:"The service that added the rule (dms, dts, ...)."`
	Origin           Origin `yaml:"origin" json:",omitzero" doc:"Where an imported rule came from: file, line, column, resource (set by an import; optional by hand)."`
}

// Instance is a VM with one NIC.
type Instance struct {
	Name           string     `yaml:"name" topo:"required,name" doc:"Unique among instances and internet hosts."`
	VSwitch        string     `yaml:"vswitch" topo:"required,name" doc:"The vswitch of the NIC."`
	IP             netip.Addr `yaml:"ip" doc:"Private address; default: the next free address of the vswitch."`
	SecurityGroups []string   `yaml:"security_groups" topo:"name" doc:"Groups of the NIC; none: the default group. At most quotas.groups_per_nic."`
	EIP            netip.Addr `yaml:"eip" doc:"Elastic IP: 1:1 NAT between it and the private address."`
	Services       []Service  `yaml:"services" doc:"What listens inside the instance; a port with none refuses."`
	Expose         []Expose   `yaml:"expose" doc:"Host loopback ports that reach the instance via its EIP, as internet traffic from internet.host_client."`
	Origin         Origin     `yaml:"origin" json:",omitzero" doc:"Where an imported instance came from: file, line, column, resource (set by an import; optional by hand)."`
	Assigned       []string   `yaml:"assigned" json:",omitempty" topo:"enum=ip|eip" doc:"Values the cloud picks at creation, assigned here (an import marks them): ip, eip. An eip listed without an address is assigned one."`
	Shard          *int       `yaml:"shard" json:",omitempty" topo:"min=0,max=63" doc:"Sharded VPC: the shard that runs the instance, 0 ≤ shard < the number of shards, instead of the hash of its name. Ignored unsharded."`

	// AutoIP reports that IP was assigned by Load (see AssignAddresses).
	AutoIP bool `yaml:"-"`
}

// Service is something that listens inside an instance or internet host.
type Service struct {
	Kind     string `yaml:"kind" topo:"required,enum=http|echo|banner" doc:"http answers GET / with the name; echo echoes; banner writes text as a CRLF-ended line, then holds the connection until the client closes or 10 s pass."`
	Port     int    `yaml:"port" topo:"required,min=1,max=65535,all" doc:"Listening port, or all: every port no other service of the machine takes."`
	Protocol string `yaml:"protocol" topo:"default=tcp,enum=tcp|udp" doc:"tcp (default) or udp (echo only). With port: all, absent means every protocol the kind speaks."`
	Text     string `yaml:"text" topo:"multiline" doc:"banner: the greeting written to each connection, CRLF added unless it ends a line. Default by port: 22 an SSH identification (SSH-2.0-OpenSSH_9.6), 25/465/587 an SMTP greeting (220 NAME ESMTP vpclab), else the instance or host name."`
}

// AllPorts is the Service.Port of a catch-all service (port: all): it
// answers on every port of its protocol that no other service of the
// machine takes. A catch-all service whose Protocol is "" answers every
// protocol its kind speaks (echo: TCP and UDP; http and banner: TCP).
const AllPorts = 0

// PortText is the port as the file writes it: a number, or "all".
func (s Service) PortText() string {
	if s.Port == AllPorts {
		return "all"
	}
	return strconv.Itoa(s.Port)
}

// Protocols lists the protocols the service listens on.
func (s Service) Protocols() []string {
	switch {
	case s.Protocol != "":
		return []string{s.Protocol}
	case s.Port == AllPorts && s.Kind == "echo":
		return []string{"tcp", "udp"}
	}
	return []string{"tcp"}
}

// MarshalJSON writes a catch-all service's port as "all".
func (s Service) MarshalJSON() ([]byte, error) {
	type plain Service
	if s.Port != AllPorts {
		return json.Marshal(plain(s))
	}
	return json.Marshal(struct {
		plain
		Port string
	}{plain(s), "all"})
}

// Expose maps a host loopback port to an instance port.
type Expose struct {
	Port     int    `yaml:"port" topo:"required,min=1,max=65535" doc:"Port of the instance."`
	HostPort int    `yaml:"host_port" topo:"required,min=1,max=65535" doc:"Port on 127.0.0.1 of the host; unique in the file per protocol."`
	Protocol string `yaml:"protocol" topo:"default=tcp,enum=tcp|udp" doc:"tcp (default) or udp: the host port listens for this protocol and reaches the instance port over it."`
}

// NATGateway gives vswitches SNAT to the internet and forwards ports (DNAT).
type NATGateway struct {
	Name     string     `yaml:"name" topo:"required,name" doc:"Unique NAT gateway name."`
	VSwitch  string     `yaml:"vswitch" topo:"required,name" doc:"The vswitch the gateway sits in."`
	EIP      netip.Addr `yaml:"eip" doc:"Public address of the gateway; required unless assigned lists eip."`
	SNAT     []string   `yaml:"snat" topo:"name" doc:"Vswitches whose instances without an EIP reach the internet via this gateway."`
	DNAT     []DNAT     `yaml:"dnat" doc:"Port forwarding from the gateway's EIP."`
	Origin   Origin     `yaml:"origin" json:",omitzero" doc:"Where an imported NAT gateway came from: file, line, column, resource (set by an import; optional by hand)."`
	Assigned []string   `yaml:"assigned" json:",omitempty" topo:"enum=eip" doc:"Values the cloud picks at creation, assigned here: eip. Listed without an address, one is assigned."`
}

// DNAT forwards a port of a NAT gateway's EIP to an instance.
type DNAT struct {
	Protocol   string `yaml:"protocol" topo:"required,enum=tcp|udp" doc:"tcp or udp."`
	PublicPort int    `yaml:"public_port" topo:"required,min=1,max=65535" doc:"Port on the gateway's EIP; unique per protocol."`
	Instance   string `yaml:"instance" topo:"required,name" doc:"Target instance; it must not have an EIP."`
	Port       int    `yaml:"port" topo:"required,min=1,max=65535" doc:"Port of the instance."`
	Origin     Origin `yaml:"origin" json:",omitzero" doc:"Where an imported DNAT entry came from."`
}

// Internet describes the hosts outside the VPC.
// VPNGateway is a WireGuard endpoint on the host through which peers join
// the VPC (docs/topology.md).
type VPNGateway struct {
	Name           string       `yaml:"name" topo:"required,name" doc:"Unique VPN gateway name."`
	VSwitch        string       `yaml:"vswitch" topo:"required,name" doc:"The vswitch the gateway sits in."`
	Listen         string       `yaml:"listen" topo:"required,scalar" doc:"UDP address:port on the host where WireGuard listens, a loopback address (127.0.0.1:51820)."`
	ClientCIDR     netip.Prefix `yaml:"client_cidr" topo:"required" doc:"IPv4 range of the peers' VPN addresses, outside the VPC CIDR; security-group rules can name it."`
	PrivateKeyFile string       `yaml:"private_key_file" topo:"required" doc:"File holding the gateway's WireGuard private key (base64, as wg genkey writes it), relative to this file's directory."`
	Peers          []VPNPeer    `yaml:"peers" doc:"Peers allowed to join; anyone else gets no answer."`
}

// VPNPeer is a WireGuard peer of a VPN gateway.
type VPNPeer struct {
	Name      string     `yaml:"name" topo:"required,name" doc:"Unique among instances, internet hosts and peers; usable as from/to in expect."`
	PublicKey string     `yaml:"public_key" topo:"required,scalar" doc:"The peer's WireGuard public key (base64 of 32 bytes, as wg pubkey writes it)."`
	Address   netip.Addr `yaml:"address" topo:"required" doc:"The peer's VPN address, inside client_cidr; the only source address accepted from it."`
}

type Internet struct {
	HostClient netip.Addr `yaml:"host_client" topo:"default=198.51.100.1" doc:"Source address of connections entering through expose."`
	Hosts      []Host     `yaml:"hosts" doc:"Internet hosts."`
}

// Host is a machine on the internet with a public address.
type Host struct {
	Name     string     `yaml:"name" topo:"required,name" doc:"Unique among instances and internet hosts."`
	IP       netip.Addr `yaml:"ip" topo:"required" doc:"Public address."`
	Services []Service  `yaml:"services" doc:"What listens on the host."`
}

// Expect is one probe that `vpclab test` runs through the data plane.
type Expect struct {
	Name     string `yaml:"name" doc:"Optional label."`
	From     string `yaml:"from" topo:"required,name" doc:"An instance or internet host."`
	To       string `yaml:"to" topo:"required,scalar,name" doc:"A name, or an address (private, EIP, NAT EIP or public). A name seen from the internet means its EIP; from inside the VPC, its private IP."`
	Protocol string `yaml:"protocol" topo:"default=tcp,enum=tcp|udp|icmp" doc:"tcp (default), udp or icmp."`
	Port     int    `yaml:"port" topo:"min=1,max=65535" doc:"Destination port; required except for icmp."`
	Result   string `yaml:"result" topo:"required,enum=allow|block|refuse" doc:"allow, block or refuse."`
}

// Position is a place in the file, 1-based.
type Position struct {
	Line, Column int
}

// Pos returns the position of the value at a field path such as
// "instances[2].ip", or of its nearest enclosing node the file gives.
func (t *Topology) Pos(path string) Position {
	for {
		if p, ok := t.pos[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return Position{1, 1}
		}
		path = path[:i]
	}
}

// has reports whether the file gives a value at path.
func (t *Topology) has(path string) bool {
	_, ok := t.pos[path]
	return ok
}

// Firewall returns the group as the firewall takes it. It is meant for a
// loaded Topology, whose rules are valid.
func (g *SecurityGroup) Firewall() firewall.Group {
	out := firewall.Group{Name: g.Name, Rules: make([]firewall.Rule, 0, len(g.Rules))}
	out.Type, _ = firewall.ParseGroupType(g.Type)
	out.InnerAccess, _ = firewall.ParseInnerAccess(g.InnerAccess)
	for i := range g.Rules {
		r, _ := g.Rules[i].firewall()
		out.Rules = append(out.Rules, r)
	}
	return out
}
