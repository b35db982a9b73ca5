// Command oidc-test-provider runs the test OpenID provider of package
// oidctest as its own process, for the browser tests: the end-to-end
// harness builds it with `go build` and starts it beside `coffer serve`. It
// is a test tool and never part of the coffer binary.
//
//	oidc-test-provider --listen 127.0.0.1:9000 --config provider.json
//
// provider.json is {"clients": [oidctest.Client...], "users": [oidctest.User...]}.
// When the provider serves, it prints "issuer=<url>" on standard output; it
// stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/coffer-backup/coffer/internal/testutil/oidctest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oidc-test-provider:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	cfgPath := flag.String("config", "", "JSON file with the clients and users")
	flag.Parse()
	if *cfgPath == "" {
		return fmt.Errorf("--config is required")
	}
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		return fmt.Errorf("read --config: %w", err)
	}
	var cfg struct {
		Clients []oidctest.Client `json:"clients"`
		Users   []oidctest.User   `json:"users"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("parse %s: %w", *cfgPath, err)
	}
	p, err := oidctest.New(oidctest.Options{Addr: *listen, Clients: cfg.Clients, Users: cfg.Users})
	if err != nil {
		return err
	}
	fmt.Printf("issuer=%s\n", p.Issuer)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return p.Close()
}
