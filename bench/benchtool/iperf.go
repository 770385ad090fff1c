package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// iperfGbps returns the receiver-side throughput of an iperf3 -J report,
// which is what arrived, in Gbit/s.
func iperfGbps(r io.Reader) (float64, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumReceived *struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return 0, fmt.Errorf("decode iperf3 report: %w", err)
	}
	if doc.Error != "" {
		return 0, fmt.Errorf("iperf3 reported: %s", doc.Error)
	}
	if doc.End.SumReceived == nil {
		return 0, errors.New("iperf3 report has no end.sum_received")
	}
	if doc.End.SumReceived.BitsPerSecond < 0 {
		return 0, errors.New("iperf3 report has a negative rate")
	}
	return doc.End.SumReceived.BitsPerSecond / 1e9, nil
}

func cmdIperf3(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want one iperf3 -J report, got %d arguments", len(args))
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	g, err := iperfGbps(f)
	if err != nil {
		return fmt.Errorf("%q: %w", args[0], err)
	}
	fmt.Printf("%.3f\n", g)
	return nil
}
