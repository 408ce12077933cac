// Package browsertest drives tock's web dashboard end to end in headless
// Chromium (chromedp): a real replica on the embedded SQLite store serves the
// pages, the browser clicks the dashboard's own buttons and forms, and the
// test reads what a person would see. It also takes the screenshots of the
// pages, among them docs/dashboard.png.
//
// It holds tests only. It must not reach into the replica's memory to decide
// an assertion: everything it checks comes from the rendered pages.
package browsertest
