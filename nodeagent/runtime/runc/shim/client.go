package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Client talks to one shim over its socket. It holds no state of its own besides the connection pool,
// so a restarted agent makes a new Client on the same socket and sees everything the shim runs.
// A Client is safe for concurrent use.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the shim listening on socket (see SocketPath). It does not connect:
// the first call does; use Info to check that the shim answers.
func NewClient(socket string) *Client {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socket, http: &http.Client{Transport: transport}}
}

// Close drops idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// Info returns the shim's pid and directory; it is the cheap way to check that the shim answers.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &info)
	return info, err
}

// Create creates and starts a container and returns its record, running (or already exited if it
// was quick). A container that could not start leaves no record behind.
func (c *Client) Create(ctx context.Context, req CreateRequest) (Container, error) {
	var ctr Container
	err := c.do(ctx, http.MethodPost, "/v1/containers", req, &ctr)
	return ctr, err
}

// List returns every container the shim has a record of, running or exited, ordered by ID.
func (c *Client) List(ctx context.Context) ([]Container, error) {
	var ctrs []Container
	err := c.do(ctx, http.MethodGet, "/v1/containers", nil, &ctrs)
	return ctrs, err
}

// Get returns one container's record, or ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (Container, error) {
	var ctr Container
	err := c.do(ctx, http.MethodGet, "/v1/containers/"+url.PathEscape(id), nil, &ctr)
	return ctr, err
}

// Signal sends sig to the container's init. Signalling an exited container does nothing.
func (c *Client) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	return c.do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(id)+"/signal", SignalRequest{Signal: int(sig)}, nil)
}

// Wait returns the container's record once it has exited, or, with ErrTimeout, its record when
// timeout passed first.
func (c *Client) Wait(ctx context.Context, id string, timeout time.Duration) (Container, error) {
	var ctr Container
	path := "/v1/containers/" + url.PathEscape(id) + "/wait?timeout=" + url.QueryEscape(timeout.String())
	if err := c.do(ctx, http.MethodGet, path, nil, &ctr); err != nil {
		return ctr, err
	}
	if ctr.State != StateExited {
		return ctr, ErrTimeout
	}
	return ctr, nil
}

// Remove kills the container if it runs, destroys its libcontainer state and cgroup, and deletes its
// record. Its log file stays. Removing an unknown container is no error.
func (c *Client) Remove(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, "/v1/containers/"+url.PathEscape(id), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Shutdown asks the shim to exit. It refuses with ErrHasContainers while any container is recorded:
// remove them first. When Shutdown returns nil the socket is gone.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/shutdown", nil, nil)
}

// Events subscribes to container events. The subscription is in place when Events returns, so an
// agent that subscribes and then lists misses nothing. The channel is closed when ctx ends or the
// connection drops (the shim exited, or this subscriber fell too far behind): subscribe again and
// list to catch up.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://shim/v1/events", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("subscribe to events of shim %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	ch := make(chan Event, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		dec := json.NewDecoder(bufio.NewReader(resp.Body))
		for {
			var ev Event
			if err := dec.Decode(&ev); err != nil {
				return
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://shim"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("shim %s: %s %s: %w", c.socket, method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{}
	if err := json.Unmarshal(b, e); err != nil || e.Kind == "" {
		return &Error{Kind: KindInternal, Message: fmt.Sprintf("shim answered %s: %s", resp.Status, bytes.TrimSpace(b))}
	}
	return e
}
