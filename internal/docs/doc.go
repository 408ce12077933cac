// Package docs holds the tests that keep tock's documentation true to the
// repository: every reference in a Go comment or a Markdown file resolves
// inside the repository (files, links, section anchors, test names), every
// invariant a comment cites (I1, I2, …) is defined in docs/design.md, and the
// shell examples of README.md run as written against a freshly built
// binary.
//
// It has no code of its own besides this comment and must not grow any:
// production packages must never import it.
package docs
