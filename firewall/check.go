package firewall

// Check runs fn against a transaction and the final validation, as Update
// does, but changes nothing: it returns the error Update would. A sharded
// VPC's control API checks a change on every shard before it applies it on
// any (a shard's Update then succeeds, the state being the same).
func (fw *Firewall) Check(fn func(tx *Tx) error) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	tx := newTx(fw.st)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.finish()
}
