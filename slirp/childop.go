package slirp

import (
	"encoding/json"
	"fmt"
	"io"
)

// ChildOp is the init's network op (userns.Externals.Network): data is a
// ChildConfig as JSON. It configures the device (ConfigureChild) and, with
// published ports, serves the port forwarder's sandbox side (ServePorts). It
// runs in the sandbox's network namespace before the pivot; the init
// imports nothing of this package, cmd/rbox hands it this function.
func ChildOp(data json.RawMessage, log io.Writer) (string, error) {
	var c ChildConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("network op: %w", err)
	}
	if err := ConfigureChild(&c); err != nil {
		return "", err
	}
	if c.PortSocket != "" {
		if err := ServePorts(c.PortSocket, log); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s %s/%d via %s, mtu %d", c.Dev, c.IP, c.Netmask, c.Gateway, c.MTU), nil
}
