package firewall

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ParseClassBenchRules reads a ClassBench rule file, one rule per line in
// priority order:
//
//	@SRC/LEN  DST/LEN  SPLO : SPHI  DPLO : DPHI  0xPROTO/0xMASK  0xFLAGS/0xMASK
//
// A protocol mask of 0x00 means any protocol, 0xFF exactly PROTO; the flags
// column is optional and ignored. Blank lines are skipped. Errors name the
// line and the field that is wrong.
func ParseClassBenchRules(r io.Reader) ([]MatchRule, error) {
	var rules []MatchRule
	err := eachLine(r, func(line string) error {
		mr, err := parseClassBenchRule(line)
		if err == nil {
			rules = append(rules, mr)
		}
		return err
	})
	return rules, err
}

// ParseClassBenchTrace reads a ClassBench trace: one header per line as
// decimal "SIP DIP SPORT DPORT PROTO", usually followed by flags and the
// generating filter, which are ignored.
func ParseClassBenchTrace(r io.Reader) ([]Tuple, error) {
	var out []Tuple
	err := eachLine(r, func(line string) error {
		f := strings.Fields(line)
		if len(f) < 5 {
			return fmt.Errorf("want at least 5 fields (SIP DIP SPORT DPORT PROTO), have %d", len(f))
		}
		var v [5]uint64
		for i, bitSize := range [5]int{32, 32, 16, 16, 8} {
			x, err := strconv.ParseUint(f[i], 10, bitSize)
			if err != nil {
				return fmt.Errorf("field %d %q: not a %d-bit decimal number", i+1, f[i], bitSize)
			}
			v[i] = x
		}
		out = append(out, Tuple{Src: uint32(v[0]), Dst: uint32(v[1]),
			SrcPort: uint16(v[2]), DstPort: uint16(v[3]), Proto: uint8(v[4])})
		return nil
	})
	return out, err
}

// eachLine calls fn on every non-blank line of r and prefixes its error
// with the line number.
func eachLine(r io.Reader, fn func(string) error) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("classbench: line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("classbench: line %d: %w", n+1, err)
	}
	return nil
}

func parseClassBenchRule(line string) (MatchRule, error) {
	var mr MatchRule
	if !strings.HasPrefix(line, "@") {
		return mr, fmt.Errorf("rule does not start with '@'")
	}
	f := strings.Fields(line[1:])
	if len(f) != 9 && len(f) != 10 {
		return mr, fmt.Errorf("want 9 or 10 fields (SRC DST SPLO : SPHI DPLO : DPHI PROTO FLAGS), have %d", len(f))
	}
	src, err := parseClassBenchPrefix("source", f[0])
	if err != nil {
		return mr, err
	}
	dst, err := parseClassBenchPrefix("destination", f[1])
	if err != nil {
		return mr, err
	}
	mr.Src, mr.Dst = []Range32{src}, []Range32{dst}
	if mr.SrcPort, err = parseClassBenchPorts("source", f[2:5]); err != nil {
		return mr, err
	}
	if mr.DstPort, err = parseClassBenchPorts("destination", f[5:8]); err != nil {
		return mr, err
	}
	proto, mask, ok := strings.Cut(f[8], "/")
	p, err1 := strconv.ParseUint(strings.TrimPrefix(proto, "0x"), 16, 8)
	m, err2 := strconv.ParseUint(strings.TrimPrefix(mask, "0x"), 16, 8)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return mr, fmt.Errorf("protocol %q: want 0xPROTO/0xMASK", f[8])
	case m == 0:
		mr.AnyProto = true
	case m == 0xff:
		mr.Proto = uint8(p)
	default:
		return mr, fmt.Errorf("protocol %q: mask must be 0x00 or 0xFF", f[8])
	}
	return mr, nil
}

// parseClassBenchPrefix parses "a.b.c.d/len" into its range of addresses.
func parseClassBenchPrefix(what, s string) (Range32, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return Range32{}, fmt.Errorf("%s %q: not an IPv4 prefix", what, s)
	}
	lo, _ := AddrToU32(p.Masked().Addr())
	return Range32{lo, lo | uint32(uint64(1)<<(32-p.Bits())-1)}, nil
}

// parseClassBenchPorts parses the fields "LO", ":", "HI".
func parseClassBenchPorts(what string, f []string) (PortRange, error) {
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[2], 10, 16)
	s := strings.Join(f, " ")
	if f[1] != ":" || err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("%s ports %q: want LO : HI, each 0-65535", what, s)
	}
	if lo > hi {
		return PortRange{}, fmt.Errorf("%s ports %q: low port above high port", what, s)
	}
	return PortRange{uint16(lo), uint16(hi)}, nil
}

// RandomTuples returns n five-tuples drawn from seed for exercising a
// classifier over rules: most are built around a random rule, each field at
// or just beyond one of that rule's bounds or inside its range, so that they
// match some rules and straddle the interval boundaries; the rest are
// uniformly random. With no rules, all are uniformly random.
func RandomTuples(rules []MatchRule, n int, seed uint64) []Tuple {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Tuple, n)
	for i := range out {
		t := &out[i]
		t.Src, t.Dst = rng.Uint32(), rng.Uint32()
		t.SrcPort, t.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		t.Proto = uint8(rng.Uint32())
		if len(rules) == 0 || rng.IntN(8) == 0 {
			continue
		}
		r := &rules[rng.IntN(len(rules))]
		if len(r.Src) > 0 {
			s := r.Src[rng.IntN(len(r.Src))]
			t.Src = near(rng, s.Lo, s.Hi)
		}
		if len(r.Dst) > 0 {
			d := r.Dst[rng.IntN(len(r.Dst))]
			t.Dst = near(rng, d.Lo, d.Hi)
		}
		t.SrcPort = uint16(near(rng, uint32(r.SrcPort.Lo), uint32(r.SrcPort.Hi)))
		t.DstPort = uint16(near(rng, uint32(r.DstPort.Lo), uint32(r.DstPort.Hi)))
		if !r.AnyProto {
			t.Proto = r.Proto
		}
	}
	return out
}

// near returns a value of [lo, hi] or just outside it: mostly inside, at
// the bounds now and then, and one past them now and then.
func near(rng *rand.Rand, lo, hi uint32) uint32 {
	switch rng.IntN(8) {
	case 0:
		return lo
	case 1:
		return hi
	case 2:
		return lo - 1
	case 3:
		return hi + 1
	}
	if lo > hi {
		return lo
	}
	return lo + uint32(rng.Uint64N(uint64(hi-lo)+1))
}

// FindClassBenchDir locates the full ClassBench data set, which the
// repository does not hold (testdata/classbench keeps a 500-rule subset):
// $VPCLAB_CLASSBENCH when set, else the first
// shared/data/classbench found walking up from the working directory. It
// returns an error saying where it looked when there is none.
func FindClassBenchDir() (string, error) {
	if d := os.Getenv("VPCLAB_CLASSBENCH"); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("VPCLAB_CLASSBENCH=%s: not a directory", d)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "data", "classbench")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("ClassBench data not found: set VPCLAB_CLASSBENCH or put shared/data/classbench in a parent of %s", wd)
}
