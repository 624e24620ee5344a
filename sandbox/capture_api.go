package sandbox

import (
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/firewall"
)

// PathCapture streams one NIC of the sandbox as classic pcap
// (GET /v1/capture?instance=NAME): `vpclab capture NAME -w FILE`.
const PathCapture = "/v1/capture"

// capture streams the frames of one instance or internet host as classic
// pcap (CaptureNIC) until the client goes or the sandbox closes. Each frame
// reaches the client as it is written: the response is flushed per frame.
func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("instance")
	names := s.instanceNames()
	for _, h := range s.lab.Topology.Internet.Hosts {
		names = append(names, h.Name)
	}
	if !slices.Contains(names, name) {
		refuse(w, &firewall.Error{Code: ErrInstanceNotFound, Rule: -1, Field: "instance", Value: name,
			Msg: "no such instance or internet host", Allowed: strings.Join(names, ", ")})
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	fw := &flushWriter{w: w}
	fw.f, _ = w.(http.Flusher)
	stop, err := CaptureNIC(s.lab, name, fw)
	if err != nil {
		refuse(w, err)
		return
	}
	<-r.Context().Done() // the client went, or the server closes
	stop()               // no frame is being written once it returns
}

// flushWriter flushes an HTTP response after every write, so a capture's
// frames reach the client as they come.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (fw *flushWriter) Write(b []byte) (int, error) {
	n, err := fw.w.Write(b)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}
