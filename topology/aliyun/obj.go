package aliyun

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// obj is a JSON object of a response with what an error about it needs:
// its file, its field path in the response ("Permissions.Permission[3]")
// and the entity it describes.
type obj struct {
	im     *importer
	src    *source
	n      *node
	path   string
	entity string
}

// str returns the value of key as a string: strings as they are, numbers
// as written (Priority is a number in JSON and a string in the XML shape),
// null and a missing key as "". An object or array is an error.
func (o obj) str(key string) string {
	v := o.n.get(key)
	if v == nil {
		return ""
	}
	switch v.kind {
	case kString, kNumber:
		return strings.TrimSpace(v.str)
	case kNull:
		return ""
	case kBool:
		return v.str
	}
	o.errAt(v, join(o.path, key), fmt.Sprintf("want a string, got %s", v.kind), "")
	return ""
}

// sub returns the object at key, or an obj with a nil node when it is
// missing or null.
func (o obj) sub(key string) obj {
	v := o.n.get(key)
	out := obj{im: o.im, src: o.src, path: join(o.path, key), entity: o.entity}
	if v == nil || v.kind == kNull {
		return out
	}
	if v.kind != kObject {
		o.errAt(v, out.path, fmt.Sprintf("want an object, got %s", v.kind), "")
		return out
	}
	out.n = v
	return out
}

// list returns the elements of a list the API writes as
// {"Outer": {"Inner": [...]}} and some tools flatten to {"Outer": [...]},
// with the path of element i. A list of one converted from XML may be a
// single value instead of an array, so one value is a list of one.
// Missing, null or "" is empty.
func (o obj) list(outer, inner string) ([]*node, func(i int) string) {
	v := o.n.get(outer)
	path := join(o.path, outer)
	none := func(int) string { return path }
	if v == nil || v.kind == kNull || (v.kind == kString && v.str == "") {
		return nil, none
	}
	if v.kind == kObject {
		w := v.get(inner)
		if w == nil {
			if len(v.members) > 0 {
				o.errAt(v, path, fmt.Sprintf("want a list under %q", inner), "")
			}
			return nil, none
		}
		v, path = w, join(path, inner)
	}
	switch v.kind {
	case kArray:
		return v.elems, func(i int) string { return fmt.Sprintf("%s[%d]", path, i) }
	case kNull:
		return nil, none
	}
	return []*node{v}, func(int) string { return path }
}

// items returns the objects of a list (see list); an element that is not
// an object is an error.
func (o obj) items(outer, inner string) []obj {
	nodes, path := o.list(outer, inner)
	out := make([]obj, 0, len(nodes))
	for i, n := range nodes {
		if n.kind != kObject {
			o.errAt(n, path(i), fmt.Sprintf("want an object, got %s", n.kind), "")
			continue
		}
		out = append(out, obj{im: o.im, src: o.src, n: n, path: path(i), entity: o.entity})
	}
	return out
}

// strings returns a list of strings ({"SecurityGroupIds": {"SecurityGroupId": [...]}}).
func (o obj) strings(outer, inner string) []string {
	var out []string
	nodes, path := o.list(outer, inner)
	for i, v := range nodes {
		switch v.kind {
		case kString:
			if s := strings.TrimSpace(v.str); s != "" {
				out = append(out, s)
			}
		default:
			o.errAt(v, path(i), fmt.Sprintf("want a string, got %s", v.kind), "")
		}
	}
	return out
}

// at returns the node of key, or the object itself when key is missing: the
// place an error about key points to.
func (o obj) at(key string) *node {
	if v := o.n.get(key); v != nil {
		return v
	}
	return o.n
}

func (o obj) errAt(n *node, path, msg, allowed string) {
	if len(o.im.errs) > maxErrors {
		return // full: spare the position
	}
	off := 0
	if n != nil {
		off = n.off
	}
	line, col := o.src.pos(off)
	if o.entity != "" && !strings.Contains(path, "]") {
		// A field of the response itself: the error text shows the entity
		// only after a list index, so say which group it is here.
		msg = o.entity + ": " + msg
	}
	o.im.add(&topology.Error{File: o.src.name, Line: line, Column: col, Path: path, Entity: o.entity, Msg: msg, Allowed: allowed})
}

// errf reports a problem with the value of key.
func (o obj) errf(key, allowed, format string, args ...any) {
	o.errAt(o.at(key), join(o.path, key), fmt.Sprintf(format, args...), allowed)
}

// origin is where the object starts, with the resource it describes.
func (o obj) origin(resource string) topology.Origin { return o.originAt(o.n, resource) }

// originAt is the origin of a node of the object's file.
func (o obj) originAt(n *node, resource string) topology.Origin {
	off := 0
	if n != nil {
		off = n.off
	}
	line, col := o.src.pos(off)
	return topology.Origin{File: o.src.name, Line: line, Column: col, Resource: resource}
}

// unsupported reports something understood but not supported, at the
// value of key: an error, or with --skip-unsupported an entry in
// Fragment.Skipped.
func (o obj) unsupported(key, resource, why string) {
	o.unsupportedAt(o.at(key), join(o.path, key), resource, why)
}

func (o obj) unsupportedAt(n *node, path, resource, why string) {
	if o.im.opts.SkipUnsupported {
		o.im.skipped = append(o.im.skipped, topology.Skipped{Origin: o.originAt(n, resource), What: path, Why: why})
		return
	}
	o.errAt(n, path, "not supported: "+why+" (--skip-unsupported leaves it out and lists it)", "")
}

// masked reports whether s is an address with digits hidden, as the
// console and the documentation print them: 172.17.**.**, 139.xx.xx.40,
// 192.168.XX.XX.
func masked(s string) bool {
	if !strings.Contains(s, ".") {
		return false
	}
	for _, part := range strings.Split(strings.SplitN(s, "/", 2)[0], ".") {
		if part != "" && strings.Trim(part, "*xX") == "" {
			return true
		}
	}
	return false
}

const maskedHelp = "an address with digits hidden cannot be imported: export the response again with the aliyun CLI or an SDK, which print addresses whole"

// addr reads an IPv4 address at key; "" is the zero Addr.
func (o obj) addr(key string) (netip.Addr, bool) {
	s := o.str(key)
	if s == "" {
		return netip.Addr{}, true
	}
	return o.parseAddr(key, s)
}

func (o obj) parseAddr(key, s string) (netip.Addr, bool) {
	if masked(s) {
		o.errf(key, "", "masked address %q: %s", s, maskedHelp)
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		o.errf(key, "an IPv4 address such as 192.168.1.10", "%q is not an IPv4 address", s)
		return netip.Addr{}, false
	}
	return a, true
}

// prefix reads an IPv4 CIDR at key (a bare address is a /32).
func (o obj) prefix(key string) (netip.Prefix, bool) {
	s := o.str(key)
	if s == "" {
		return netip.Prefix{}, true
	}
	return o.parsePrefix(key, s)
}

func (o obj) parsePrefix(key, s string) (netip.Prefix, bool) {
	if masked(s) {
		o.errf(key, "", "masked address %q: %s", s, maskedHelp)
		return netip.Prefix{}, false
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err == nil && a.Is4() {
			return netip.PrefixFrom(a, 32), true
		}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		o.errf(key, "an IPv4 CIDR such as 10.0.0.0/8, or an address", "%q is not an IPv4 CIDR", s)
		return netip.Prefix{}, false
	}
	return p, true
}
