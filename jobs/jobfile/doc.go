// Package jobfile reads tock's YAML config file (docs/design.md#configuration) into a
// [jobs.Config]: [Load] reads a file, [Parse] validates its contents.
//
// It walks the yaml.v3 node tree rather than decoding into structs, so that
// every problem carries its position: it merges the defaults block into
// every job, checks each field, and reports every problem at once as a
// [*ConfigError] whose entries ([FieldError]) name file, line and field path
// (tock.yaml:14: jobs[2].schedule: ...), suggesting the closest known key for
// a misspelt one. YAML syntax errors get the best line that can be found for
// them. Aliases are followed within a work budget that grows with the file's
// size, so a small file cannot expand into unbounded work. A valid config is
// finished with [jobs.Config.Seal], which sets the job and config digests.
//
// A large file is not decoded into one node tree: the jobs list is cut out
// of the text and decoded in batches of items, so the nodes of only one
// batch are alive at a time (stream.go says when the cut is safe; in any
// other layout, and on any YAML syntax error, the whole document is decoded
// as one tree, with the same result).
//
// The package must not do I/O beyond reading the file given to Load, and
// holds no state between calls. It lives beside package jobs, not in it, so
// that the packages that only need the job model (storage above all) do not
// import yaml.v3.
package jobfile
