package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// nginxConf is nginx as a plain reverse proxy, set up the way enforcer's
// proxy works, so that the two compare like with like: HTTP/1.1 with
// keep-alive on both sides (nginx would otherwise open a connection to the
// mail server per request, and close a client's after 1,000 requests),
// request and response bodies streamed rather than buffered, no access
// log. One worker per core.
var nginxConf = template.Must(template.New("nginx.conf").Parse(`daemon off;
worker_processes {{.Workers}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events {
	worker_connections 8192;
}
http {
	access_log off;
	client_body_temp_path {{.Dir}}/client_body;
	proxy_temp_path {{.Dir}}/proxy;
{{- range .OtherTemps}}
	{{.}}_temp_path {{$.Dir}}/{{.}};
{{- end}}
	keepalive_timeout 120s;
	keepalive_requests 1000000;
	client_max_body_size 0;
	upstream mail {
		server {{.Upstream}};
		keepalive 1024;
		keepalive_requests 1000000;
	}
	server {
		listen {{.Listen}};
		location / {
			proxy_pass http://mail;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_buffering off;
			proxy_request_buffering off;
		}
	}
}
`))

// nginx is a running nginx baseline.
type nginx struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the master has exited
	dir    string
	addr   string
}

// nginxBinary finds nginx, which Debian installs in /usr/sbin (not on a
// user's PATH).
func nginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found: install it with `make deps` (Debian package nginx-light)")
}

// startNginx runs nginx in the foreground with a configuration and every
// path it writes in a fresh temporary directory, listening on a loopback
// port in front of upstream (host:port).
func startNginx(upstream string, workers int) (*nginx, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "enforcer-bench-nginx-")
	if err != nil {
		return nil, err
	}
	// The workers run as nobody when nginx starts as root; they create
	// their temporary directories under dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	// A temp path of a module that is built in must not be left at its
	// default under /var/lib/nginx; one of a module left out must not be
	// named at all.
	v, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("nginx -V: %w: %s", err, v)
	}
	var others []string
	for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
		if !bytes.Contains(v, []byte("--without-http_"+m+"_module")) {
			others = append(others, m)
		}
	}
	listen, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	var conf bytes.Buffer
	if err := nginxConf.Execute(&conf, map[string]any{
		"Workers": workers, "Dir": dir, "OtherTemps": others, "Upstream": upstream, "Listen": listen,
	}); err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	// -e: nginx opens its error log before reading the configuration;
	// keep that one in dir too.
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that the workers can be killed with the
	// master; TERM to the master (which stops its workers) if the bench dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	n := &nginx{cmd: cmd, exited: make(chan struct{}), dir: dir, addr: listen}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			ok = true
			return n, nil
		}
		select {
		case <-n.exited:
			return nil, fmt.Errorf("nginx exited: %s%s", out.String(), readErrorLog(dir))
		default:
		}
		if time.Now().After(deadline) {
			n.kill()
			return nil, fmt.Errorf("nginx not listening on %s after 10 s: %s", listen, readErrorLog(dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop asks nginx to stop (TERM: fast shutdown), kills its process group
// if it has not within 10 s, and removes its directory.
func (n *nginx) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.kill()
	}
	os.RemoveAll(n.dir)
}

// kill kills the master and its workers and waits for the master.
func (n *nginx) kill() {
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
	}
}

// readErrorLog returns the tail of nginx's error log, for error messages.
func readErrorLog(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// freeLoopbackPort returns a loopback address whose port was free a
// moment ago, for a server that cannot be handed a listener. Another
// process may take it meanwhile; nginx then fails to start and says so.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
