package bench

import (
	"fmt"
	"os"
	"path/filepath"
)

// haproxyConfig renders one HAProxy instance of the comparison pair:
//   - client: plain HTTP in, mTLS (verified against the anchor) out;
//   - server: mTLS in (client certificate required), plain HTTP to the app.
//
// Both keep connections alive on both sides, like the mesh proxies. threads
// is HAProxy's nbthread: by default the proxy's own core count, so both run
// on the same number of threads (HAProxy would otherwise start one per CPU).
func haproxyConfig(role, dir, listen, next string, threads int) string {
	global := fmt.Sprintf("global\n  maxconn 4000\n  nbthread %d\n", threads) +
		"defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n  http-reuse always\n"
	ca := filepath.Join(dir, "ca.pem")
	if role == "client" {
		return global + fmt.Sprintf("frontend in\n  bind %s\n  default_backend out\n"+
			"backend out\n  server s1 %s ssl verify required ca-file %s crt %s ssl-min-ver TLSv1.3 alpn http/1.1\n",
			listen, next, ca, filepath.Join(dir, "haproxy-client.pem"))
	}
	return global + fmt.Sprintf("frontend in\n  bind %s ssl crt %s ca-file %s verify required ssl-min-ver TLSv1.3 alpn http/1.1\n  default_backend app\n"+
		"backend app\n  server a1 %s\n", listen, filepath.Join(dir, "haproxy-server.pem"), ca, next)
}

func writeHAProxyFiles(dir string, anchor *ca) error {
	for _, role := range []string{"client", "server"} {
		cert, err := anchor.leaf(identityOf(role), "127.0.0.1")
		if err != nil {
			return err
		}
		if err := writeHAProxyPEM(filepath.Join(dir, "haproxy-"+role+".pem"), cert); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
