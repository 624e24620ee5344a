package topology

// nameIndex finds instances and internet hosts by name in constant time. The
// runner builds one per run: Topology.instance and Topology.host scan their
// lists, which at 10,000 instances costs more than a probe.
type nameIndex struct {
	instances map[string]*Instance
	hosts     map[string]*Host
}

// newNameIndex indexes t's instances and internet hosts. A name given twice
// (not possible in a validated topology) keeps its first entry, as the scans
// do.
func newNameIndex(t *Topology) *nameIndex {
	x := &nameIndex{
		instances: make(map[string]*Instance, len(t.Instances)),
		hosts:     make(map[string]*Host, len(t.Internet.Hosts)),
	}
	for i := range t.Instances {
		if _, dup := x.instances[t.Instances[i].Name]; !dup {
			x.instances[t.Instances[i].Name] = &t.Instances[i]
		}
	}
	for i := range t.Internet.Hosts {
		if _, dup := x.hosts[t.Internet.Hosts[i].Name]; !dup {
			x.hosts[t.Internet.Hosts[i].Name] = &t.Internet.Hosts[i]
		}
	}
	return x
}

func (x *nameIndex) instance(name string) *Instance { return x.instances[name] }

func (x *nameIndex) host(name string) *Host { return x.hosts[name] }

// topologyScan looks names up by scanning the topology's lists: for the
// one-off lookups of Target, where building an index would cost more.
type topologyScan struct{ t *Topology }

func (s topologyScan) instance(name string) *Instance { return s.t.instance(name) }

func (s topologyScan) host(name string) *Host { return s.t.host(name) }

// nameLookup is how Target and the runner find instances and hosts.
type nameLookup interface {
	instance(name string) *Instance
	host(name string) *Host
}
