// Package cleanliness holds no code: its test runs the tests of the
// packages that write files (train, train/gbdt, train/nn, tune, checkpoint
// and the examples) with $HOME and $TMPDIR pointing at fresh directories,
// and fails if anything is left in them afterwards. Libraries write only
// under the storage path a user chose, and remove their temporary files.
package cleanliness
