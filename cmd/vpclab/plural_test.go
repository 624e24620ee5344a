package main

import "testing"

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		one  string
		many []string
		want string
	}{
		{0, "expectation", nil, "0 expectations"},
		{1, "expectation", nil, "1 expectation"},
		{2, "expectation", nil, "2 expectations"},
		{1, "security group", nil, "1 security group"},
		{3, "is", []string{"are"}, "3 are"},
		{1, "is", []string{"are"}, "1 is"},
	} {
		if got := count(tt.n, tt.one, tt.many...); got != tt.want {
			t.Errorf("count(%d, %q, %q) = %q, want %q", tt.n, tt.one, tt.many, got, tt.want)
		}
	}
}
