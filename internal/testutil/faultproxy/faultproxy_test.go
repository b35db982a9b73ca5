package faultproxy_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/faultproxy"
)

func target(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s path=%s %s", r.Host, r.URL.Path, strings.Repeat("x", 1000))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// outcomes makes n GETs through p and describes each result.
func outcomes(t *testing.T, p *faultproxy.Proxy, n int) []string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var out []string
	for i := range n {
		resp, err := client.Get(fmt.Sprintf("%s/obj/%d", p.URL, i))
		if err != nil {
			out = append(out, "error")
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			out = append(out, "cut")
		case resp.StatusCode == http.StatusServiceUnavailable:
			if !strings.Contains(string(body), "<Code>SlowDown</Code>") {
				t.Errorf("503 body %q", body)
			}
			out = append(out, "503")
		default:
			want := fmt.Sprintf("host=%s path=/obj/%d ", strings.TrimPrefix(p.URL, "http://"), i)
			if !strings.HasPrefix(string(body), want) || len(body) != len(want)+1000 {
				t.Errorf("forwarded answer %q..., want %q", body[:min(len(body), 60)], want)
			}
			out = append(out, "ok")
		}
	}
	return out
}

func TestFaultsAreSeededAndCounted(t *testing.T) {
	t.Parallel()
	tgt := target(t)
	a := faultproxy.New(t, tgt.URL, faultproxy.Options{FailRate: 0.3, Seed: 42})
	b := faultproxy.New(t, tgt.URL, faultproxy.Options{FailRate: 0.3, Seed: 42})
	ra, rb := outcomes(t, a, 60), outcomes(t, b, 60)
	if strings.Join(ra, ",") != strings.Join(rb, ",") {
		t.Fatalf("same seed, different faults:\n%v\n%v", ra, rb)
	}
	kinds := map[string]int{}
	for _, o := range ra {
		kinds[o]++
	}
	if kinds["ok"] == 0 || kinds["503"] == 0 || kinds["error"] == 0 || kinds["cut"] == 0 {
		t.Fatalf("outcomes %v: want every kind", kinds)
	}
	if a.Requests() != 60 || a.Faults() != int64(60-kinds["ok"]) {
		t.Fatalf("counters: %d requests, %d faults; outcomes %v", a.Requests(), a.Faults(), kinds)
	}
	if a.FaultsOf(faultproxy.Fault503) != int64(kinds["503"]) || a.FaultsOf(faultproxy.FaultCutBody) != int64(kinds["cut"]) {
		t.Fatalf("per-kind counters differ from outcomes %v", kinds)
	}

	a.SetEnabled(false)
	for _, o := range outcomes(t, a, 20) {
		if o != "ok" {
			t.Fatalf("fault %s while disabled", o)
		}
	}
}

func TestLatencyAndKinds(t *testing.T) {
	t.Parallel()
	tgt := target(t)
	p := faultproxy.New(t, tgt.URL, faultproxy.Options{Latency: 30 * time.Millisecond})
	start := time.Now()
	if got := outcomes(t, p, 3); strings.Join(got, ",") != "ok,ok,ok" {
		t.Fatalf("outcomes %v", got)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("3 requests took %v with 30 ms latency each", d)
	}

	only503 := faultproxy.New(t, tgt.URL, faultproxy.Options{FailRate: 1, Kinds: []string{faultproxy.Fault503}})
	for _, o := range outcomes(t, only503, 5) {
		if o != "503" {
			t.Fatalf("outcome %s, want only 503", o)
		}
	}
	// A cut body applies to GETs only; a PUT gets a 503 instead.
	cut := faultproxy.New(t, tgt.URL, faultproxy.Options{FailRate: 1, Kinds: []string{faultproxy.FaultCutBody}})
	req, _ := http.NewRequest(http.MethodPut, cut.URL+"/x", strings.NewReader("data"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("PUT status %d", resp.StatusCode)
	}
	resp, err = http.Get(cut.URL + "/y")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) && (err == nil || !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("reading a cut body: %v", err)
	}
}
