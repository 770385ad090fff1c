package userns

import "os"

// ReaperArg is argv[1] of the re-executed binary as a reaper; cmd/rbox
// dispatches it to ReapMain before the CLI parses anything.
const ReaperArg = "__reap"

// ReapMain is the reaper's entry point: a small program of its own, not a
// mode of the init. Cloned into a new user namespace with the user's full
// map (StartOptions.Reaper), it removes Config.Reap as mapped root, where
// files owned by subordinate IDs are its to delete, answers "config" with
// "exit" and ends. It builds no root and never pivots.
func ReapMain() {
	ch, cfg := begin("rbox-reap", "the reaper of sandbox files; rbox remove-layer and rbox exec run it", nil)
	if err := reapStale(cfg); err != nil {
		os.Exit(tell(ch, failure(125, "%w", err)))
	}
	ch.send(message{Type: msgExit})
	os.Exit(0)
}
