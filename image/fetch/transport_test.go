package fetch

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPlainHTTPIsExplicit: go-containerregistry picks http for loopback
// names by itself; rbox's transport speaks https to a loopback server
// unless the user said --tls-verify=false.
func TestPlainHTTPIsExplicit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("plain")) }))
	defer srv.Close()
	for _, insecure := range []bool{false, true} {
		c := &http.Client{Transport: newTransport(insecure)}
		resp, err := c.Get(srv.URL + "/v2/")
		if !insecure {
			if err == nil || !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
				t.Errorf("without --tls-verify=false: %v, want the request upgraded to https", err)
			}
			if resp != nil {
				resp.Body.Close()
			}
			continue
		}
		if err != nil {
			t.Fatalf("with --tls-verify=false: %v", err)
		}
		resp.Body.Close()
	}
}
