package slirp

import "testing"

func TestResolvConf(t *testing.T) {
	host := "# systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n"
	got := ResolvConf([]string{"10.0.2.3"}, []byte(host))
	want := "# written by rbox: the network helper's DNS forwarder\noptions edns0 trust-ad\nsearch corp.example\nnameserver 10.0.2.3\n"
	if got != want {
		t.Errorf("ResolvConf = %q, want %q", got, want)
	}
	if got := ResolvConf([]string{"10.0.2.3"}, nil); got != "# written by rbox: the network helper's DNS forwarder\nnameserver 10.0.2.3\n" {
		t.Errorf("ResolvConf without a host file = %q", got)
	}
}
