// Package probe ties an error to the probes of rbox check that explain it.
//
// Code on both sides of the namespace boundary wraps a failure that a
// host setting can cause with the probe that checks that setting
// (probe.Wrap(err, probe.Overlay)); hostcheck turns the names found in
// the chain into exec's "hint:" line. The wording of a message is free to
// change: no one reads it to find the hint. The init's errors cross the
// boundary as a sync message whose probe names travel beside the text
// (userns), so the tie survives the trip.
package probe
