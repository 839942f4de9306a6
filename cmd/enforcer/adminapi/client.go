package adminapi

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
	"time"
)

// ErrNotRunning means no daemon answers on the admin socket.
var ErrNotRunning = errors.New("the enforcer daemon is not running")

// Client talks to the daemon's admin socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{
		socket: socket,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", socket)
				},
			},
		},
	}
}

// Do sends a request and decodes the JSON answer into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	data, err := c.Raw(ctx, method, path, query, rd, "application/json")
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode daemon answer: %w", err)
		}
	}
	return nil
}

// Raw sends a request with a body of the given content type and returns
// the answer's bytes: for CSV imports and exports.
func (c *Client) Raw(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) ([]byte, error) {
	u := "http://enforcer" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		if _, serr := os.Stat(c.socket); errors.Is(serr, os.ErrNotExist) || isRefused(err) {
			return nil, fmt.Errorf("%w (no socket at %s); start it with `enforcer run` or `systemctl start enforcer`", ErrNotRunning, c.socket)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("admin socket %s: permission denied; the socket is root-only: run as root", c.socket)
		}
		return nil, fmt.Errorf("admin socket %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read daemon answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("daemon answered %s", resp.Status)
	}
	return data, nil
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
