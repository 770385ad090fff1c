// Command benchtool is the Go half of rbox's benchmark harness (bench/run.sh).
// It runs on the host, as the benchmarking user, outside every sandbox: it
// never creates namespaces itself (lifecycle has the runtime under test
// create them).
//
// It owns the parts that are awkward in shell:
//
//   - hyperfine: merge the JSON exports of several hyperfine rounds (the
//     harness interleaves tools by running every tool once per round), and
//     print a markdown table of medians, minimums and ratios to reference
//     rows, flagging figures whose rounds disagree as noisy;
//   - goals: check the measured figures against rbox's stated goals;
//   - gentar, gentree: deterministic test data (a tarball of small files,
//     a large rootfs filler tree);
//   - memtree: peak RSS (VmHWM) of a process and its descendants, read from
//     /proc on the host side while the workload sleeps;
//   - iperf3: the throughput of an iperf3 -J report, in Gbit/s;
//   - lifecycle: one container's create, start, wait and delete through an
//     OCI runtime, as an engine's shim drives it (a child subreaper).
//
// The harness builds it with the module (go build ./bench/benchtool) into
// its temporary directory; nothing here is imported by rbox.
package main
