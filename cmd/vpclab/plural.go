package main

import "fmt"

// count says n things in English: "1 expectation", "2 expectations",
// "0 expectations". many is one with an s unless given.
func count(n int, one string, many ...string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}
