package firewall

// AuditLen returns how many rule changes the audit log holds, without
// copying it: a caller that serializes its own changes compares it before
// and after one to learn whether it changed anything.
func (fw *Firewall) AuditLen() int {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return len(fw.audit)
}

// AuditSince returns the rule changes from index i on (AuditLen before a
// change), oldest first.
func (fw *Firewall) AuditSince(i int) []AuditRecord {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if i < 0 || i > len(fw.audit) {
		i = len(fw.audit)
	}
	return append([]AuditRecord(nil), fw.audit[i:]...)
}
