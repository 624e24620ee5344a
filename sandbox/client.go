package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// Client speaks the control API of one sandbox over its socket.
type Client struct {
	Info Info
	http *http.Client
}

// NewClient returns a client of the sandbox info describes.
func NewClient(info Info) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", info.Socket)
		},
		DisableKeepAlives: true, // one request per verb: no idle connection to outlive it
	}
	return &Client{Info: info, http: &http.Client{Transport: tr}}
}

// ConnError says the sandbox could not be reached (it stopped, or the
// socket is not ours to open).
type ConnError struct {
	Socket string
	Err    error
}

func (e *ConnError) Error() string {
	if errors.Is(e.Err, os.ErrPermission) {
		return fmt.Sprintf("control socket %s: permission denied (it answers only the user who started the sandbox)", e.Socket)
	}
	return fmt.Sprintf("control socket %s: %v", e.Socket, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// do sends a request and decodes the answer into out, or returns the
// *APIError the sandbox refused it with.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sandbox"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(req, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control API %s: %w", path, err)
	}
	return nil
}

// Stream sends a GET for path and copies the answer's body to w as it
// arrives, until the sandbox ends it or ctx ends (then it returns nil: the
// caller stopped it). A refusal is an *APIError, as for every request.
func (c *Client) Stream(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://sandbox"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req, path)
	if err != nil {
		var ce *ConnError
		if errors.As(err, &ce) && ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("control API %s: %w", path, err)
	}
	return nil
}

// send makes one request. An unreachable sandbox is a *ConnError; an
// answer of 300 or more is the sandbox's refusal, an *APIError. Otherwise
// the caller closes the response's body.
func (c *Client) send(req *http.Request, path string) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &ConnError{Socket: c.Info.Socket, Err: err}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		ae := &APIError{}
		if err := json.NewDecoder(resp.Body).Decode(ae); err != nil || len(ae.Errors) == 0 {
			return nil, fmt.Errorf("control API %s: HTTP %s", path, resp.Status)
		}
		ae.Status = resp.StatusCode
		return nil, ae
	}
	return resp, nil
}

// GetInfo asks the sandbox who it is.
func (c *Client) GetInfo(ctx context.Context) (Info, error) {
	var out Info
	return out, c.do(ctx, http.MethodGet, PathInfo, nil, &out)
}

// AddRule authorizes a rule (fields by their YAML names) in a group.
func (c *Client) AddRule(ctx context.Context, req RuleRequest) (RuleResponse, error) {
	var out RuleResponse
	return out, c.do(ctx, http.MethodPost, PathRuleAdd, req, &out)
}

// RemoveRule revokes a rule from a group.
func (c *Client) RemoveRule(ctx context.Context, req RuleRequest) (RuleResponse, error) {
	var out RuleResponse
	return out, c.do(ctx, http.MethodPost, PathRuleRemove, req, &out)
}

// JoinGroup adds an instance to a group.
func (c *Client) JoinGroup(ctx context.Context, instance, group string) (GroupResponse, error) {
	var out GroupResponse
	return out, c.do(ctx, http.MethodPost, PathGroupJoin, GroupRequest{Instance: instance, Group: group}, &out)
}

// LeaveGroup removes an instance from a group.
func (c *Client) LeaveGroup(ctx context.Context, instance, group string) (GroupResponse, error) {
	var out GroupResponse
	return out, c.do(ctx, http.MethodPost, PathGroupLeave, GroupRequest{Instance: instance, Group: group}, &out)
}

// Probe runs one real probe.
func (c *Client) Probe(ctx context.Context, req ProbeRequest) (topology.Result, error) {
	var out topology.Result
	return out, c.do(ctx, http.MethodPost, PathProbe, req, &out)
}

// Conntrack lists tracked flows, of one instance when instance is set, at
// most limit of them (0: DefaultConntrackLimit, -1: all).
func (c *Client) Conntrack(ctx context.Context, instance string, limit int) (ConntrackResponse, error) {
	var out ConntrackResponse
	q := url.Values{}
	if instance != "" {
		q.Set("instance", instance)
	}
	switch {
	case limit < 0:
		q.Set("limit", "0")
	case limit > 0:
		q.Set("limit", strconv.Itoa(limit))
	}
	p := PathConntrack
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Flush flushes connection tracking, of one instance when instance is set.
func (c *Client) Flush(ctx context.Context, instance string) (FlushResponse, error) {
	var out FlushResponse
	return out, c.do(ctx, http.MethodPost, PathConntrackFlush, FlushRequest{Instance: instance}, &out)
}

// Stats reads every NIC's counters and rule hits, or one instance's (or
// internet host's) when instance is set.
func (c *Client) Stats(ctx context.Context, instance string) (StatsResponse, error) {
	var out StatsResponse
	p := PathStats
	if instance != "" {
		p += "?instance=" + url.QueryEscape(instance)
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Capture streams the frames of one instance or internet host of the
// sandbox to w as classic pcap until ctx ends (then it returns nil) or the
// sandbox stops.
func (c *Client) Capture(ctx context.Context, instance string, w io.Writer) error {
	return c.Stream(ctx, PathCapture+"?instance="+url.QueryEscape(instance), w)
}

// Audit reads every rule change so far.
func (c *Client) Audit(ctx context.Context) ([]AuditRecord, error) {
	var out []AuditRecord
	return out, c.do(ctx, http.MethodGet, PathAudit, nil, &out)
}

// Down asks the sandbox to stop, then waits (until ctx ends) for its run
// directory's socket to go.
func (c *Client) Down(ctx context.Context) error {
	if err := c.do(ctx, http.MethodPost, PathDown, nil, nil); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(c.Info.Socket); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox %s did not stop: %w", c.Info.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
