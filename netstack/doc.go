// Package netstack is vpclab's data plane: a VPC whose instances are
// in-process gVisor network stacks, joined by a virtual L3 fabric that runs
// the security groups (package firewall) and the internet mapping on every
// frame. The behaviour it implements is docs/semantics.md; the section
// numbers cited in this package's comments ("§5.3") are that document's.
//
// # Instances and VNICs
//
// An Instance is a gVisor stack (IPv4 with ICMP, TCP, UDP) with one private
// address, a default route and one VNIC: a gVisor link endpoint of ours that
// carries raw IPv4 packets (no link header, no ARP) and hands each one
// synchronously, in the sending goroutine, to whatever it is plugged into.
// With offload (the default) TCP super-segments of up to 64 KiB cross
// unsegmented with partial checksums. Instances dial and listen with
// net.Conn and net.Listener (Dial, Listen, ListenPacket, Ping) and run the
// built-in services of the topology format (Serve: http, echo, banner).
//
// # Fabric
//
// A Fabric is a virtual switch: each plugged-in VNIC is a Port owning one
// IPv4 address, and a frame goes to the port that owns its destination. The
// address table is sharded and copy-on-write behind atomic pointers, so
// ports come and go while traffic flows and the per-frame lookup takes no
// lock. The fabric owns no goroutine. On its own it asks an optional Filter
// about each frame; a VPC installs a Router instead, which decides where the
// frame goes and how its addresses and ports are rewritten.
//
// # VPC
//
// A VPC owns a Fabric, a firewall.Firewall and the routing state: vswitches
// (AddVSwitch), instances with their NIC's security groups (AddInstance,
// AddInstances in one firewall transaction), elastic IPs (AssociateEIP), NAT
// gateways with SNAT for vswitches and DNAT port forwarding (AddNATGateway),
// and internet hosts (AddInternetHost): stacks with public addresses and no
// security groups, standing for the rest of the world. Its Router, per
// frame and without allocating, parses the headers (firewall.ParseHeaders),
// finds the destination, and asks firewall.Decide with the path:
//
//   - instance to instance: the sender's egress and the receiver's ingress
//     rules, on private addresses;
//   - instance to the internet: the egress rules on the real public
//     destination, then the source translation — the instance's EIP, else
//     the reply path of a DNAT entry, else the SNAT gateway of its vswitch
//     (with a public port per flow), else NO_ROUTE_TO_INTERNET; TCP to port
//     25 is blocked there as a platform rule;
//   - internet to the VPC: an EIP or a DNAT entry is translated first, then
//     the instance's ingress rules see the client's real address; private
//     addresses are unreachable (NO_ROUTE_TO_DESTINATION), and so is an
//     instance's own VPC's EIP or NAT address from inside (no hairpin).
//
// Group changes made on VPC.Firewall apply to the next new connection;
// tracked ones go on.
//
// # Drops, counters and traces
//
// A dropped frame is silent, as in the cloud: no RST, no ICMP error. The VPC
// counts it on the NIC it was charged to (NICStats) and, only when someone
// subscribed (SubscribeDrops), publishes a DropEvent with the flow, the
// verdict and its explanation; a full subscriber buffer counts the event as
// missed and never blocks the data path. AddCapture hands every frame
// crossing some NICs, or all of them with internet hosts, to a Capture (a
// pcap writer, say), and with them every frame dropped on those NICs with
// its DropEvent; several captures may watch a NIC at once, and without one
// the data path pays one atomic load per frame. Trace explains, without sending
// anything or touching conntrack, hit counters or NAT tables, the hops the
// first packet of a new connection would meet — egress, platform, route,
// NAT with headers before and after, ingress, listener — with the verdict
// of each.
package netstack
