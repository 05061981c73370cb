// Command testserver is the program of skiff's test image: an HTTP server that tells a test what a pod
// sees (its hostname, environment, client address, name lookups) and can be made unhealthy, unready or
// to exit, plus small jobs a test container needs (exit with a code, hold memory, burn a CPU, write and
// read files, echo TCP). The first argument picks the job; without one it serves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		var code int
		if code, err = serve(args); err == nil {
			os.Exit(code)
		}
	case "exit":
		code := 0
		if len(args) > 0 {
			if code, err = strconv.Atoi(args[0]); err != nil || code < 0 || code > 255 {
				err = fmt.Errorf("exit: %q is not an exit code (0-255)", args[0])
			}
		}
		if err == nil {
			fmt.Printf("exiting %d\n", code)
			fmt.Fprintf(os.Stderr, "exiting %d\n", code)
			os.Exit(code)
		}
	case "alloc":
		err = alloc(args)
	case "burn":
		burn()
	case "sleep":
		err = sleep(args)
	case "write":
		if len(args) != 2 {
			err = errors.New("usage: write FILE TEXT")
		} else if err = os.MkdirAll(filepath.Dir(args[0]), 0o755); err == nil {
			err = os.WriteFile(args[0], []byte(args[1]), 0o644)
		}
	case "cat":
		if len(args) != 1 {
			err = errors.New("usage: cat FILE")
		} else {
			var b []byte
			if b, err = os.ReadFile(args[0]); err == nil {
				_, err = os.Stdout.Write(b)
			}
		}
	case "tcp":
		if len(args) != 1 {
			err = errors.New("usage: tcp PORT")
		} else {
			err = echoTCP(args[0])
		}
	default:
		err = fmt.Errorf("unknown command %q (serve, exit, alloc, burn, sleep, write, cat, tcp)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(2)
	}
}

// serve answers HTTP until SIGTERM (exit code 0) or GET /exit (its code).
func serve(args []string) (int, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	listen := fs.String("listen", ":"+port, "address to listen on")
	files := fs.String("files", "/srv", "directory served under /files/")
	unhealthy := fs.String("unhealthy-file", "/tmp/unhealthy", "while this file exists /healthz answers 500")
	notready := fs.String("notready-file", "/tmp/notready", "while this file exists /readyz answers 503")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	// Before listening, so that a SIGTERM as soon as the port answers still shuts down gracefully.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	mux := http.NewServeMux()
	exit := make(chan int, 1)
	hostname := func(w http.ResponseWriter, _ *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprintln(w, h)
	}
	mux.HandleFunc("GET /{$}", hostname)
	mux.HandleFunc("GET /hostname", hostname)
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Query().Get("msg")) })
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		for _, kv := range env {
			fmt.Fprintln(w, kv)
		}
	})
	mux.HandleFunc("GET /clientip", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintln(w, host)
	})
	mux.HandleFunc("GET /healthz", fileGate(*unhealthy, http.StatusInternalServerError))
	mux.HandleFunc("GET /readyz", fileGate(*notready, http.StatusServiceUnavailable))
	mux.HandleFunc("GET /exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil || code < 0 || code > 255 {
			http.Error(w, "code must be an exit code (0-255)", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "exiting %d\n", code)
		select {
		case exit <- code:
		default:
		}
	})
	mux.HandleFunc("GET /dns", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "name is missing", http.StatusBadRequest)
			return
		}
		addrs, err := net.LookupHost(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for _, a := range addrs {
			fmt.Fprintln(w, a)
		}
	})
	mux.Handle("GET /files/", http.StripPrefix("/files/", http.FileServer(http.Dir(*files))))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return 0, err
	}
	fmt.Printf("serving on %s\n", ln.Addr())
	srv := &http.Server{Handler: logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	code := 0
	select {
	case sig := <-sigs:
		fmt.Printf("%v: shutting down\n", sig)
	case code = <-exit:
		fmt.Printf("exiting %d\n", code)
	case err := <-served:
		return 0, err
	}
	// Shutdown lets requests in flight, /exit's answer among them, finish first.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return 0, fmt.Errorf("shutdown: %w", err)
	}
	return code, nil
}

// fileGate answers 200 "ok", or failCode while path exists.
func fileGate(path string, failCode int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(path); err == nil {
			http.Error(w, path+" exists", failCode)
			return
		}
		io.WriteString(w, "ok")
	}
}

// logRequests prints one line per request to stdout, which becomes the container's log.
func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		fmt.Printf("%s %s %s %d %v\n", r.RemoteAddr, r.Method, r.URL, sw.status, time.Since(start).Round(time.Microsecond))
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// sleep waits SECONDS (a decimal number, or "infinity" as coreutils' sleep takes it).
func sleep(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: sleep SECONDS")
	}
	if args[0] == "infinity" || args[0] == "inf" {
		select {}
	}
	d, err := strconv.ParseFloat(args[0], 64)
	if err != nil || d < 0 || d > float64(math.MaxInt64/int64(time.Second)) {
		return fmt.Errorf("sleep: %q is not a number of seconds", args[0])
	}
	time.Sleep(time.Duration(d * float64(time.Second)))
	return nil
}

// burn keeps one CPU busy until killed.
func burn() {
	x := uint64(1)
	for {
		// A xorshift step: real work the compiler cannot drop.
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if x == 0 {
			fmt.Println(x)
		}
	}
}

// alloc holds MiB mebibytes of memory, each page touched so that it resides, until killed.
func alloc(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: alloc MiB")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return fmt.Errorf("alloc: %q is not a number of mebibytes", args[0])
	}
	keep := make([][]byte, 0, n)
	for range n {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println("allocated")
	for {
		time.Sleep(time.Hour)
		_ = keep
	}
}

// echoTCP echoes every connection on port.
func echoTCP(port string) error {
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	fmt.Printf("echoing on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}
