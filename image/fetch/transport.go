package fetch

import (
	"crypto/tls"
	"net/http"
)

// tlsPolicy decides plain HTTP explicitly. go-containerregistry speaks
// http to loopback, RFC 1918 and .local registries on its own, and for an
// insecure registry tries http after https; rbox allows http only when
// the user said --tls-verify=false, and otherwise upgrades every request
// (token realms included) to https.
type tlsPolicy struct {
	base      http.RoundTripper
	allowHTTP bool
}

// newTransport builds the transport for one pull. insecure also skips
// certificate verification, as --tls-verify=false does in skopeo.
func newTransport(insecure bool) *tlsPolicy {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked: --tls-verify=false
	}
	return &tlsPolicy{base: t, allowHTTP: insecure}
}

func (t *tlsPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.allowHTTP {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	return t.base.RoundTrip(req)
}
