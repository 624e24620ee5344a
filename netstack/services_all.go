package netstack

// AllPorts is the ServiceSpec.Port of a catch-all service: every port of
// its protocol without a listener of its own. (Stub for the topology side;
// the catch-all itself lands with the netstack's services_all.go.)
const AllPorts uint16 = 0
