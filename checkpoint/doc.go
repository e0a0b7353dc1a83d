// Package checkpoint stores a trained model as a directory: the framework's
// model files, an optional "preprocessor.json" holding the fitted
// preprocessor's state, and "metadata.json" describing the checkpoint
// (framework, format version, goray version, metrics, creation time, input
// features and free-form extras).
//
// A trainer writes a checkpoint with New and WriteFile; a predictor reads it
// back with FromDirectory, checks it is of the expected kind with Require and
// reads its files with ReadFile:
//
//	ckpt, err := checkpoint.New(dir, checkpoint.Metadata{Framework: "gbdt", FormatVersion: 1})
//	err = ckpt.WriteFile("model.txt", model)
//	...
//	ckpt, err := checkpoint.FromDirectory(dir)
//	if err := ckpt.Require("gbdt", 1); err != nil { ... }
//	model, err := ckpt.ReadFile("model.txt")
//
// Files are stored through the small FS interface; LocalFS (the default) is
// the local disk, and an object store can be plugged in with WithFS.
package checkpoint
