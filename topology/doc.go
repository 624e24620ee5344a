// Package topology turns a topology file (YAML, schema v1, described field
// by field in docs/topology.md) into a running VPC, checks its expectations
// with real probes, exposes it on the host, and draws it.
//
// # Loading
//
// Load (and LoadFile) decodes strictly — unknown fields, duplicate keys,
// wrong types, several documents and runaway anchors are errors — then
// validates references, addresses and quotas, fills defaults and assigns
// the addresses of instances that name none (AssignAddresses, for
// topologies built in Go). Every problem of a file is returned together as
// Errors, each with file:line:col, the field path, the entity and the
// allowed values. A file with any error yields no Topology, so nothing
// starts.
//
// The struct tags of model.go drive both the decoder and the JSON Schema
// (Schema, committed as schemas/topology.schema.json): `yaml` is the field
// name, `topo` holds the constraints (required, default=V, enum=a|b, min=N,
// max=N, scalar) and `doc` the description editors show. A test keeps
// docs/topology.md in step with the schema.
//
// # Running
//
// Build brings a loaded Topology up as a Lab around a netstack.VPC:
// vswitches, security groups, instances with their services, EIPs, internet
// hosts and NAT gateways; on error nothing is left running. Lab.Run checks
// every `expect` with a real probe through the data plane (a TCP handshake
// and the service's reply, a UDP echo, an ICMP echo), concurrently and in
// file order; a blocked probe is known from the VPC's drop event at once,
// with a timeout only as a fallback, and each Result carries the
// explanation. Topology.Target resolves an expectation's `to` as seen from
// its `from` (a name seen from the internet means the instance's EIP).
//
// # Exposing and drawing
//
// Lab.Expose listens on host loopback ports for the file's `expose` entries
// and carries each connection into the VPC as internet traffic to the
// instance's EIP, so the security groups apply as to any client; a cap
// per port, an idle timeout and accept retries keep one host client from
// exhausting the process, and Exposure.Stats counts what they did. A UDP
// entry gives each host client address its own flow, ended when idle.
// Build(t, OnProgress(fn)) reports how far a large topology got. Graph
// renders a topology as a Mermaid flowchart or a Graphviz digraph:
// vswitches with their instances and NAT gateways, the internet, and edges
// for expectations, DNAT entries and group references.
package topology
