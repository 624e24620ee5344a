package topology

// SetSplitMin sets the size from which Load cuts a file (splitMin) and
// returns the previous one.
func SetSplitMin(n int) int {
	old := splitMin
	splitMin = n
	return old
}
