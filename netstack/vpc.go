package netstack

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// VPCConfig configures a VPC.
type VPCConfig struct {
	Name     string
	CIDR     netip.Prefix    // private IPv4 range of the VPC
	Firewall firewall.Config // quotas, AllowOutboundSMTP, conntrack config
	MTU      uint32          // 0: DefaultMTU
	// NoOffload turns off checksum offload and GSO on every VNIC.
	NoOffload bool
}

// Error codes of VPC changes (the cloud's names where it has one).
const (
	ErrInvalidCIDR          = "InvalidCidrBlock.Malformed"
	ErrVSwitchNotFound      = "InvalidVSwitchId.NotFound"
	ErrVSwitchExists        = "InvalidVSwitchId.AlreadyExists" // ours
	ErrVSwitchOverlap       = "InvalidCidrBlock.Overlapped"
	ErrInstanceNotFound     = "InvalidInstanceId.NotFound"
	ErrInstanceExists       = "InvalidInstanceId.AlreadyExists" // ours
	ErrInvalidPrivateIP     = "InvalidPrivateIpAddress.Malformed"
	ErrPrivateIPInUse       = "InvalidPrivateIpAddress.Duplicated"
	ErrNoFreeAddress        = "InvalidVSwitchId.IpNotEnough"
	ErrInvalidEIP           = "InvalidIpAddress.Malformed"
	ErrEIPInUse             = "InvalidIpAddress.AlreadyUsed" // ours
	ErrEIPNotAssociated     = "InvalidAssociation.NotFound"  // ours
	ErrNATGatewayExists     = "InvalidNatGatewayId.AlreadyExists"
	ErrSNATVSwitchTaken     = "InvalidSnatEntry.VSwitchAlreadyUsed" // ours
	ErrDNATToEIPInstance    = "InvalidDnatEntry.InstanceHasEip"     // ours
	ErrDNATDuplicate        = "Forward.IpPortDuplicated"            // the cloud's
	ErrDNATProtocol         = "InvalidIpProtocol.ValueNotSupported" // ours
	ErrInstanceInUse        = "DependencyViolation.DnatEntry"       // ours
	ErrVPCClosed            = "IncorrectVpcStatus"
	ErrInternetHostInVPC    = "InvalidIpAddress.InVpcCidr" // ours
	ErrInternetHostNotFound = "InvalidInternetHost.NotFound"
)

// Error is a refused VPC change, with the cloud's error code.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

func vpcErr(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// VPC is a virtual private cloud: vswitches, instances on them, EIPs, NAT
// gateways and internet hosts, all joined by one Fabric whose Router
// enforces the VPC's security groups on every frame (docs/semantics.md §2–§5).
type VPC struct {
	name      string
	cidr      netip.Prefix
	lo, hi    uint32 // the VPC CIDR as a host-order range
	mtu       uint32
	noOffload bool
	fw        *firewall.Firewall
	fab       *Fabric
	drops     dropHub

	mu        sync.Mutex // serializes changes; the data path never takes it
	closed    bool
	vswitches map[string]*vswitch
	endpoints map[string]*endpoint // instances and internet hosts by name
	gateways  map[string]*natGateway
	vpns      map[string]*VPNGateway
	routes    atomic.Pointer[routeTable]
	taps      []*tap                 // captures started with AddCapture
	nicTaps   map[string]func()      // SetCapture's, by NIC: their removers
	dropTaps  atomic.Pointer[[]*tap] // taps, for the data path's drops
}

// vswitch is a subnet of the VPC.
type vswitch struct {
	name   string
	prefix netip.Prefix
}

// OwnerKind says what owns an address.
type OwnerKind uint8

// Owner kinds.
const (
	OwnerNone OwnerKind = iota
	OwnerInstance
	OwnerInternetHost
	OwnerEIP
	OwnerNATGateway
	OwnerVPNPeer
)

func (k OwnerKind) String() string {
	switch k {
	case OwnerInstance:
		return "instance"
	case OwnerInternetHost:
		return "internet-host"
	case OwnerEIP:
		return "eip"
	case OwnerNATGateway:
		return "nat-gateway"
	case OwnerVPNPeer:
		return "vpn-peer"
	}
	return "none"
}

// endpoint is what a fabric Port's Tag holds: an instance or internet host
// with its firewall NIC and counters.
type endpoint struct {
	name string
	kind OwnerKind // OwnerInstance or OwnerInternetHost
	inst *Instance
	port *Port
	nic  *firewall.NIC // nil for internet hosts
	vsw  *vswitch      // nil for internet hosts
	addr uint32
	eip  atomic.Uint32 // 0: none
	// shard is the link to the shard that runs this instance when it runs
	// in another process (inst is then nil); nil for local ones.
	shard *ShardPeer

	drops [firewall.NumCodes]atomic.Uint64

	// VPN peers only: the probe stack standing in for the peer, and the
	// slot that lets one exist at a time (VPC.VPNProbe).
	vpnProbe     atomic.Pointer[Instance]
	vpnProbeSlot chan struct{}
}

// routeTable is the data path's view of the VPC's internet mapping: an
// immutable snapshot, rebuilt on every change and swapped atomically.
type routeTable struct {
	eipIn   map[uint32]*endpoint // EIP → instance
	gwIn    map[uint32]*natGateway
	snat    map[*vswitch]*natGateway
	dnatOut map[dnatRevKey]dnatOut
}

// NewVPC returns an empty VPC.
func NewVPC(cfg VPCConfig) (*VPC, error) {
	if !cfg.CIDR.IsValid() || !cfg.CIDR.Addr().Is4() {
		return nil, vpcErr(ErrInvalidCIDR, "vpc %s: CIDR %v is not an IPv4 prefix", cfg.Name, cfg.CIDR)
	}
	if !IsPrivateRange(cfg.CIDR) {
		return nil, vpcErr(ErrInvalidCIDR, "vpc %s: CIDR %v is not a private range (inside %s)", cfg.Name, cfg.CIDR, PrivateRangesText())
	}
	cidr := cfg.CIDR.Masked()
	lo, hi := prefixRange(cidr)
	v := &VPC{
		name: cfg.Name, cidr: cidr, lo: lo, hi: hi,
		mtu: cfg.MTU, noOffload: cfg.NoOffload,
		fw:        firewall.New(cfg.Firewall),
		fab:       NewFabric(nil),
		vswitches: map[string]*vswitch{},
		endpoints: map[string]*endpoint{},
		gateways:  map[string]*natGateway{},
		vpns:      map[string]*VPNGateway{},
	}
	v.rebuildRoutes()
	v.fab.SetRouter(vpcRouter{v})
	return v, nil
}

// Name returns the VPC's name.
func (v *VPC) Name() string { return v.name }

// CIDR returns the VPC's private range.
func (v *VPC) CIDR() netip.Prefix { return v.cidr }

// Firewall returns the VPC's security-group state: groups, rules and
// memberships are managed there directly and take effect at once.
func (v *VPC) Firewall() *firewall.Firewall { return v.fw }

// Fabric returns the fabric joining the VPC's VNICs.
func (v *VPC) Fabric() *Fabric { return v.fab }

func prefixRange(p netip.Prefix) (lo, hi uint32) {
	lo, _ = firewall.AddrToU32(p.Masked().Addr())
	if p.Bits() == 0 {
		return 0, ^uint32(0)
	}
	return lo, lo | ^(^uint32(0) << (32 - p.Bits()))
}

// inVPC reports whether a is one of the VPC's private addresses.
func (v *VPC) inVPC(a uint32) bool { return a >= v.lo && a <= v.hi }

// AddVSwitch adds a vswitch: an IPv4 subnet of the VPC's CIDR that overlaps
// no other vswitch.
func (v *VPC) AddVSwitch(name string, cidr netip.Prefix) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	if _, ok := v.vswitches[name]; ok || name == "" {
		return vpcErr(ErrVSwitchExists, "vswitch %q exists or has no name", name)
	}
	if !cidr.IsValid() || !cidr.Addr().Is4() || cidr.Bits() > MaxVSwitchBits {
		return vpcErr(ErrInvalidCIDR, "vswitch %s: CIDR %v is not an IPv4 prefix of at most /%d", name, cidr, MaxVSwitchBits)
	}
	cidr = cidr.Masked()
	if !v.cidr.Contains(cidr.Addr()) || cidr.Bits() < v.cidr.Bits() {
		return vpcErr(ErrInvalidCIDR, "vswitch %s: CIDR %v is not inside the VPC's %v", name, cidr, v.cidr)
	}
	for _, o := range v.vswitches {
		if o.prefix.Overlaps(cidr) {
			return vpcErr(ErrVSwitchOverlap, "vswitch %s: CIDR %v overlaps vswitch %s (%v)", name, cidr, o.name, o.prefix)
		}
	}
	v.vswitches[name] = &vswitch{name: name, prefix: cidr}
	return nil
}

// InstanceSpec describes an instance to add.
type InstanceSpec struct {
	Name    string
	VSwitch string
	// Addr is the private address; zero assigns the lowest free address of
	// the vswitch. As in the cloud, a vswitch's first address (the network
	// address) and its last three are reserved and never assigned.
	Addr   netip.Addr
	Groups []string   // none: the system "default" group (docs/semantics.md §3)
	EIP    netip.Addr // zero: none
}

// AddInstance creates a gVisor instance on a vswitch, registers its NIC in
// the firewall with its groups and plugs it into the fabric. The whole spec
// is validated first; on error nothing changes.
func (v *VPC) AddInstance(spec InstanceSpec) (*Instance, error) {
	insts, err := v.AddInstances([]InstanceSpec{spec})
	if err != nil {
		return nil, err
	}
	return insts[0], nil
}

// AddInstances adds several instances at once, as AddInstance does one:
// every spec is validated first and on error nothing changes. Their NICs
// join the firewall in one transaction, so the policies are compiled once
// for the batch rather than once per instance — adding n instances one by
// one costs O(n²), in one batch O(n). Instances without an address get the
// lowest free ones of their vswitch, in order.
func (v *VPC) AddInstances(specs []InstanceSpec) ([]*Instance, error) {
	return v.AddInstancesProgress(specs, nil)
}

// AddInstancesProgress is AddInstances that calls progress(done) as the
// instances' stacks are built, a chunk at a time (done counts
// 1..len(specs); building the stacks is nearly all of a batch's time and
// plugging them in comes after). It is called on the caller's goroutine
// with the VPC locked: it must not call the VPC.
func (v *VPC) AddInstancesProgress(specs []InstanceSpec, progress func(done int)) ([]*Instance, error) {
	return v.addInstances(specs, progress, nil)
}

// addInstances is AddInstancesProgress; remote, when not nil, names the
// shard running spec i (nil: this process), and the result holds nil for
// the instances other shards run.
func (v *VPC) addInstances(specs []InstanceSpec, progress func(done int), remote func(i int) *ShardPeer) ([]*Instance, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	type planned struct {
		addr netip.Addr
		vsw  *vswitch
		eip  uint32
	}
	plan := make([]planned, len(specs))
	names := make(map[string]bool, len(specs))
	addrs := map[netip.Addr]string{}    // explicit and assigned in this batch
	eips := map[uint32]string{}         // in this batch
	cursor := map[*vswitch]netip.Addr{} // next address to try, per vswitch
	for i, spec := range specs {
		if spec.Name == "" {
			return nil, vpcErr(ErrInstanceNotFound, "an instance needs a name")
		}
		if _, ok := v.endpoints[spec.Name]; ok || names[spec.Name] {
			return nil, vpcErr(ErrInstanceExists, "instance %s exists", spec.Name)
		}
		names[spec.Name] = true
		vsw, ok := v.vswitches[spec.VSwitch]
		if !ok {
			return nil, vpcErr(ErrVSwitchNotFound, "instance %s: no vswitch %q", spec.Name, spec.VSwitch)
		}
		if a := spec.Addr; a.IsValid() {
			if !a.Is4() || !vsw.prefix.Contains(a) || Reserved(vsw.prefix, a) {
				return nil, vpcErr(ErrInvalidPrivateIP, "instance %s: %v is not an assignable address of vswitch %s (%v)", spec.Name, a, vsw.name, vsw.prefix)
			}
			if other, dup := addrs[a]; v.fab.Port(a) != nil || dup {
				return nil, vpcErr(ErrPrivateIPInUse, "instance %s: %v is in use%s", spec.Name, a, by(other))
			}
			addrs[a] = spec.Name
		}
		plan[i].vsw = vsw
		if spec.EIP.IsValid() {
			eip, err := v.checkPublic(spec.EIP, "eip of "+spec.Name)
			if err != nil {
				return nil, err
			}
			if other, dup := eips[eip]; dup {
				return nil, vpcErr(ErrEIPInUse, "eip of %s: %v is already used by instance %s", spec.Name, spec.EIP, other)
			}
			eips[eip] = spec.Name
			plan[i].eip = eip
		}
	}
	// Assign addresses after every explicit one is known.
	for i, spec := range specs {
		vsw := plan[i].vsw
		if spec.Addr.IsValid() {
			plan[i].addr = spec.Addr
			continue
		}
		a, ok := NextFree(vsw.prefix, cursor[vsw], func(a netip.Addr) bool {
			_, taken := addrs[a]
			return taken || v.fab.Port(a) != nil
		})
		if !ok {
			return nil, vpcErr(ErrNoFreeAddress, "instance %s: vswitch %s (%v) has no free address", spec.Name, vsw.name, vsw.prefix)
		}
		cursor[vsw] = a.Next()
		plan[i].addr = a
		addrs[plan[i].addr] = spec.Name
	}

	nics := make([]*firewall.NIC, len(specs))
	err := v.fw.Update(func(tx *firewall.Tx) error {
		for i, spec := range specs {
			nic, err := tx.AddNIC(spec.Name, plan[i].addr, spec.Groups...)
			if err != nil {
				return fmt.Errorf("instance %s: %w", spec.Name, err)
			}
			nics[i] = nic
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	undoFirewall := func() {
		v.fw.Update(func(tx *firewall.Tx) error {
			for _, s := range specs {
				tx.RemoveNIC(s.Name)
			}
			return nil
		})
	}
	// Build the stacks of the instances this process runs (nearly all of
	// the time, on every core), then plug them into the fabric at once.
	var local []int // indexes into specs
	var cfgs []Config
	for i, spec := range specs {
		if remoteOf(remote, i) == nil {
			local = append(local, i)
			cfgs = append(cfgs, Config{Name: spec.Name, Addr: plan[i].addr, MTU: v.mtu, NoOffload: v.noOffload})
		}
	}
	built, err := newInstances(cfgs, progress)
	if err != nil {
		undoFirewall()
		return nil, err
	}
	eps := make([]*endpoint, len(specs))
	ports := make([]PortSpec, len(local))
	for j, i := range local {
		key, _ := firewall.AddrToU32(plan[i].addr)
		eps[i] = &endpoint{name: specs[i].Name, kind: OwnerInstance, inst: built[j], nic: nics[i], vsw: plan[i].vsw, addr: key}
		ports[j] = PortSpec{NIC: built[j].NIC(), Addr: plan[i].addr, Tag: eps[i]}
	}
	attached, err := v.fab.AttachAll(ports)
	if err != nil {
		closeInstances(built)
		undoFirewall()
		return nil, fmt.Errorf("vpc %s: %w", v.name, err)
	}
	for j, i := range local {
		eps[i].port = attached[j]
		v.endpoints[specs[i].Name] = eps[i]
		v.tapEndpoint(eps[i])
	}
	done := len(local)
	for i, spec := range specs {
		sp := remoteOf(remote, i)
		if sp == nil {
			continue
		}
		ep, err := v.plugRemote(spec.Name, OwnerInstance, plan[i].addr, nics[i], plan[i].vsw, sp)
		if err != nil {
			// Undo the batch: nothing of it stays.
			for _, s := range specs {
				v.unplug(s.Name)
			}
			undoFirewall()
			return nil, err
		}
		eps[i] = ep
		if done++; progress != nil {
			progress(done)
		}
	}
	insts := make([]*Instance, len(specs))
	for i, ep := range eps {
		ep.eip.Store(plan[i].eip)
		insts[i] = ep.inst
	}
	v.rebuildRoutes()
	return insts, nil
}

// unplug undoes plug: it closes the instance (which detaches its port) and
// forgets it. The caller holds v.mu.
func (v *VPC) unplug(name string) {
	if ep, ok := v.endpoints[name]; ok {
		delete(v.endpoints, name)
		ep.close()
	}
}

func by(name string) string {
	if name == "" {
		return ""
	}
	return " by instance " + name
}

// plug builds an instance and attaches it to the fabric.
func (v *VPC) plug(name string, kind OwnerKind, addr netip.Addr, nic *firewall.NIC, vsw *vswitch) (*endpoint, error) {
	inst, err := NewInstance(Config{Name: name, Addr: addr, MTU: v.mtu, NoOffload: v.noOffload})
	if err != nil {
		return nil, err
	}
	key, _ := firewall.AddrToU32(addr)
	ep := &endpoint{name: name, kind: kind, inst: inst, nic: nic, vsw: vsw, addr: key}
	p, err := v.fab.Attach(inst.NIC(), addr, ep)
	if err != nil {
		inst.Close()
		return nil, fmt.Errorf("instance %s: %w", name, err)
	}
	ep.port = p
	v.endpoints[name] = ep
	v.tapEndpoint(ep)
	return ep, nil
}

// checkPublic checks that a is a public IPv4 address no one owns yet.
func (v *VPC) checkPublic(a netip.Addr, what string) (uint32, error) {
	x, ok := firewall.AddrToU32(a)
	if !ok || !a.Unmap().Is4() {
		return 0, vpcErr(ErrInvalidEIP, "%s: %v is not an IPv4 address", what, a)
	}
	if v.inVPC(x) {
		return 0, vpcErr(ErrInternetHostInVPC, "%s: %v is inside the VPC's CIDR %v", what, a, v.cidr)
	}
	if !IsPublic(a) {
		return 0, vpcErr(ErrInvalidEIP, "%s: %v is not a public address (%s)", what, a, PublicRuleText())
	}
	if name, kind := v.owner(x); kind != OwnerNone {
		return 0, vpcErr(ErrEIPInUse, "%s: %v is already used by %s %s", what, a, kind, name)
	}
	return x, nil
}

// RemoveInstance stops an instance (or internet host) and removes it with
// its NIC and EIP. An instance that a DNAT entry targets is refused.
func (v *VPC) RemoveInstance(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ep, ok := v.endpoints[name]
	if !ok {
		return vpcErr(ErrInstanceNotFound, "no instance %q", name)
	}
	for _, gw := range v.gateways {
		for _, t := range gw.dnat {
			if t.ep == ep {
				return vpcErr(ErrInstanceInUse, "instance %s is the target of a DNAT entry of NAT gateway %s", name, gw.name)
			}
		}
	}
	delete(v.endpoints, name)
	ep.eip.Store(0)
	v.rebuildRoutes()
	ep.close()
	if ep.nic != nil {
		if err := v.fw.RemoveNIC(name); err != nil {
			return fmt.Errorf("instance %s: %w", name, err)
		}
	}
	return nil
}

// AssociateEIP maps eip 1:1 to an instance's private address.
func (v *VPC) AssociateEIP(instance string, eip netip.Addr) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ep, ok := v.endpoints[instance]
	if !ok || ep.kind != OwnerInstance {
		return vpcErr(ErrInstanceNotFound, "no instance %q", instance)
	}
	if ep.eip.Load() != 0 {
		return vpcErr(ErrEIPInUse, "instance %s already has EIP %v", instance, firewall.U32ToAddr(ep.eip.Load()))
	}
	for _, gw := range v.gateways {
		for _, t := range gw.dnat {
			if t.ep == ep {
				return vpcErr(ErrDNATToEIPInstance, "instance %s is the target of a DNAT entry of NAT gateway %s; an instance with an EIP cannot be", instance, gw.name)
			}
		}
	}
	x, err := v.checkPublic(eip, "eip of "+instance)
	if err != nil {
		return err
	}
	ep.eip.Store(x)
	v.rebuildRoutes()
	return nil
}

// UnassociateEIP removes an instance's EIP.
func (v *VPC) UnassociateEIP(instance string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ep, ok := v.endpoints[instance]
	if !ok || ep.kind != OwnerInstance {
		return vpcErr(ErrInstanceNotFound, "no instance %q", instance)
	}
	if ep.eip.Load() == 0 {
		return vpcErr(ErrEIPNotAssociated, "instance %s has no EIP", instance)
	}
	ep.eip.Store(0)
	v.rebuildRoutes()
	return nil
}

// AddInternetHost adds a host of the simulated internet: a netstack with a
// public address and no security groups.
func (v *VPC) AddInternetHost(name string, addr netip.Addr) (*Instance, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	if _, ok := v.endpoints[name]; ok || name == "" {
		return nil, vpcErr(ErrInstanceExists, "internet host %q exists or has no name", name)
	}
	if _, err := v.checkPublic(addr, "internet host "+name); err != nil {
		return nil, err
	}
	ep, err := v.plug(name, OwnerInternetHost, addr.Unmap(), nil, nil)
	if err != nil {
		return nil, err
	}
	return ep.inst, nil
}

// NATGatewaySpec describes a NAT gateway.
type NATGatewaySpec struct {
	Name    string
	VSwitch string
	EIP     netip.Addr
	SNAT    []string // vswitch names whose instances without EIP reach the internet through it
	DNAT    []DNATEntry
	// PortMin and PortMax bound the public ports SNAT allocates (zero:
	// DefaultSNATPortMin and DefaultSNATPortMax).
	PortMin, PortMax uint16
	// Idle timeouts of SNAT mappings (zero: the DefaultSNAT*Timeout).
	TCPTimeout, UDPTimeout, ICMPTimeout time.Duration
}

// DNATEntry forwards a public port of the gateway's EIP to an instance.
type DNATEntry struct {
	Protocol   string // "tcp" | "udp"
	PublicPort uint16
	Instance   string
	Port       uint16
}

// AddNATGateway adds a NAT gateway with its SNAT and DNAT entries. A DNAT
// entry that targets an instance with an EIP is refused (docs/semantics.md §5.4),
// as is a vswitch that already has SNAT. Every problem is reported at once.
func (v *VPC) AddNATGateway(spec NATGatewaySpec) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	var errs []error
	if _, ok := v.gateways[spec.Name]; ok || spec.Name == "" {
		errs = append(errs, vpcErr(ErrNATGatewayExists, "NAT gateway %q exists or has no name", spec.Name))
	}
	if _, ok := v.vswitches[spec.VSwitch]; !ok {
		errs = append(errs, vpcErr(ErrVSwitchNotFound, "NAT gateway %s: no vswitch %q", spec.Name, spec.VSwitch))
	}
	eip, err := v.checkPublic(spec.EIP, "NAT gateway "+spec.Name)
	if err != nil {
		errs = append(errs, err)
	}
	rt := v.routes.Load()
	for _, s := range spec.SNAT {
		vsw, ok := v.vswitches[s]
		switch {
		case !ok:
			errs = append(errs, vpcErr(ErrVSwitchNotFound, "NAT gateway %s: SNAT entry: no vswitch %q", spec.Name, s))
		case rt.snat[vsw] != nil:
			errs = append(errs, vpcErr(ErrSNATVSwitchTaken, "NAT gateway %s: vswitch %s already has SNAT through NAT gateway %s", spec.Name, s, rt.snat[vsw].name))
		}
	}
	gw := &natGateway{name: spec.Name, vswitch: spec.VSwitch, eip: eip, snatFor: slices.Clone(spec.SNAT), dnat: map[dnatKey]dnatTarget{}}
	reserved := [2]map[uint16]bool{{}, {}}
	for i, d := range spec.DNAT {
		proto := uint8(0)
		switch strings.ToLower(d.Protocol) {
		case "tcp":
			proto = firewall.ProtoTCP
		case "udp":
			proto = firewall.ProtoUDP
		default:
			errs = append(errs, vpcErr(ErrDNATProtocol, "NAT gateway %s: DNAT entry %d: protocol %q (allowed: tcp, udp)", spec.Name, i, d.Protocol))
			continue
		}
		ep, ok := v.endpoints[d.Instance]
		if !ok || ep.kind != OwnerInstance {
			errs = append(errs, vpcErr(ErrInstanceNotFound, "NAT gateway %s: DNAT entry %d: no instance %q", spec.Name, i, d.Instance))
			continue
		}
		if ep.eip.Load() != 0 {
			errs = append(errs, vpcErr(ErrDNATToEIPInstance, "NAT gateway %s: DNAT entry %d: instance %s has an EIP; a DNAT entry cannot target it", spec.Name, i, d.Instance))
			continue
		}
		if d.PublicPort == 0 || d.Port == 0 {
			errs = append(errs, vpcErr(ErrDNATProtocol, "NAT gateway %s: DNAT entry %d: ports must be 1..65535", spec.Name, i))
			continue
		}
		k := dnatKey{proto, d.PublicPort}
		if _, dup := gw.dnat[k]; dup {
			errs = append(errs, vpcErr(ErrDNATDuplicate, "NAT gateway %s: DNAT entry %d: %s public port %d is used twice", spec.Name, i, d.Protocol, d.PublicPort))
			continue
		}
		gw.dnat[k] = dnatTarget{ep: ep, addr: ep.addr, port: d.Port}
		reserved[proto/firewall.ProtoUDP][d.PublicPort] = true // tcp: 0, udp: 1
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	lo, hi := spec.PortMin, spec.PortMax
	if lo == 0 {
		lo = DefaultSNATPortMin
	}
	if hi == 0 {
		hi = DefaultSNATPortMax
	}
	if lo > hi {
		return vpcErr(ErrDNATProtocol, "NAT gateway %s: SNAT port range %d..%d is empty", spec.Name, lo, hi)
	}
	clock := v.fw.Conntrack().Clock()
	gw.tables[0] = newSNATTable(lo, hi, orDefault(spec.TCPTimeout, DefaultSNATTCPTimeout), clock, reserved[0])
	gw.tables[1] = newSNATTable(lo, hi, orDefault(spec.UDPTimeout, DefaultSNATUDPTimeout), clock, reserved[1])
	gw.tables[2] = newSNATTable(lo, hi, orDefault(spec.ICMPTimeout, DefaultSNATICMPTimeout), clock, nil)
	v.gateways[spec.Name] = gw
	v.rebuildRoutes()
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// NATStats returns a NAT gateway's SNAT counters.
func (v *VPC) NATStats(gateway string) (NATStats, bool) {
	v.mu.Lock()
	gw, ok := v.gateways[gateway]
	v.mu.Unlock()
	if !ok {
		return NATStats{}, false
	}
	return gw.stats(), true
}

// rebuildRoutes publishes a new route table. Called with v.mu held (or
// before the VPC is shared).
func (v *VPC) rebuildRoutes() {
	rt := &routeTable{
		eipIn:   map[uint32]*endpoint{},
		gwIn:    map[uint32]*natGateway{},
		snat:    map[*vswitch]*natGateway{},
		dnatOut: map[dnatRevKey]dnatOut{},
	}
	for _, ep := range v.endpoints {
		if eip := ep.eip.Load(); eip != 0 {
			rt.eipIn[eip] = ep
		}
	}
	for _, gw := range v.gateways {
		rt.gwIn[gw.eip] = gw
		for _, s := range gw.snatFor {
			rt.snat[v.vswitches[s]] = gw
		}
		for k, t := range gw.dnat {
			rt.dnatOut[dnatRevKey{k.proto, t.addr, t.port}] = dnatOut{gw: gw, port: k.port}
		}
	}
	v.routes.Store(rt)
}

// Instance returns an instance or internet host by name, or nil.
func (v *VPC) Instance(name string) *Instance {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ep, ok := v.endpoints[name]; ok {
		return ep.inst
	}
	return nil
}

// EIPOf returns an instance's EIP, or the zero Addr.
func (v *VPC) EIPOf(name string) netip.Addr {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ep, ok := v.endpoints[name]; ok {
		if eip := ep.eip.Load(); eip != 0 {
			return firewall.U32ToAddr(eip)
		}
	}
	return netip.Addr{}
}

// Owner resolves an address the way the fabric routes it: the instance,
// internet host, EIP (named by its instance) or NAT gateway that owns it.
func (v *VPC) Owner(addr netip.Addr) (name string, kind OwnerKind) {
	x, ok := firewall.AddrToU32(addr)
	if !ok {
		return "", OwnerNone
	}
	return v.owner(x)
}

func (v *VPC) owner(x uint32) (string, OwnerKind) {
	if p := v.fab.lookup(x); p != nil {
		ep := p.Tag.(*endpoint)
		return ep.name, ep.kind
	}
	rt := v.routes.Load()
	if ep := rt.eipIn[x]; ep != nil {
		return ep.name, OwnerEIP
	}
	if gw := rt.gwIn[x]; gw != nil {
		return gw.name, OwnerNATGateway
	}
	return "", OwnerNone
}

// SubscribeDrops returns a subscription to the VPC's drop events, with a
// buffer of that many events; when it is full, further events are counted
// as missed and never block the data path.
func (v *VPC) SubscribeDrops(buffer int) *DropSubscription { return v.drops.subscribe(buffer) }

// NICStats are the counters of one instance's (or internet host's) NIC.
type NICStats struct {
	TxFrames, TxBytes, RxFrames, RxBytes uint64
	Drops                                map[string]uint64 // by verdict code name (e.g. "SG_DEFAULT_DENY")
}

// NICStats returns an instance's NIC counters. A frame dropped on egress (or
// by a platform or route step) counts on the sender's NIC, one dropped on
// ingress on the receiver's. A GSO super-segment counts as one frame.
func (v *VPC) NICStats(name string) (NICStats, bool) {
	v.mu.Lock()
	ep, ok := v.endpoints[name]
	v.mu.Unlock()
	if !ok {
		return NICStats{}, false
	}
	ps := ep.port.Stats()
	st := NICStats{TxFrames: ps.TxFrames, TxBytes: ps.TxBytes, RxFrames: ps.RxFrames, RxBytes: ps.RxBytes,
		Drops: map[string]uint64{}}
	for c := range ep.drops {
		if n := ep.drops[c].Load(); n != 0 {
			st.Drops[firewall.Code(c).String()] = n
		}
	}
	return st, true
}

// SetCapture installs fn as the capture hook of an instance's NIC: it gets
// every frame crossing the NIC (Egress: as the instance sent it; Ingress: as
// delivered, after NAT) as raw IPv4 bytes valid only during the call. nil
// removes it; a second call replaces the first. Unknown names are ignored.
// Removal does not wait: a frame the hook was handling as it was removed
// may still reach it (the data path takes no lock for the hook), so a hook
// must not write to what its remover then closes. Captures started with
// AddCapture are independent of it.
func (v *VPC) SetCapture(name string, fn func(dir firewall.Direction, ip []byte)) {
	v.mu.Lock()
	remove := v.nicTaps[name]
	delete(v.nicTaps, name)
	v.mu.Unlock()
	if remove != nil {
		remove()
	}
	if fn == nil {
		return
	}
	remove, err := v.AddCapture(funcCapture(fn), name)
	if err != nil {
		return
	}
	v.mu.Lock()
	if v.nicTaps == nil {
		v.nicTaps = map[string]func(){}
	}
	v.nicTaps[name] = remove
	v.mu.Unlock()
}

// Close stops every instance and internet host, the fabric, the firewall's
// clock and every drop subscription. It waits for all their goroutines.
func (v *VPC) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	eps := make([]*endpoint, 0, len(v.endpoints))
	for _, ep := range v.endpoints {
		eps = append(eps, ep)
	}
	vpns := make([]*VPNGateway, 0, len(v.vpns))
	for _, g := range v.vpns {
		vpns = append(vpns, g)
	}
	v.mu.Unlock()
	for _, g := range vpns {
		g.Close()
	}
	for _, ep := range eps {
		ep.close()
	}
	v.fab.Close()
	v.fw.Close()
	v.drops.closeAll()
	return nil
}
