package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/types"
)

// sendShoutrrr sends Text(ev) through the service of the channel's URL,
// with the one line as the title where the URL sets none. shoutrrr's
// services take no context: an attempt that outlives the timeout is
// abandoned (reported as timed out) and finishes in the background.
func (s *Sender) sendShoutrrr(ctx context.Context, c *ShoutrrrConfig, ev Event) (string, error) {
	name := serviceName(c.URL)
	where := "the " + name + " service"
	svc, cfgURL, err := parseServiceURL(c.URL)
	if err != nil {
		return "", &DeliveryError{Message: "the shoutrrr URL " + err.Error(), Permanent: true, Err: err}
	}
	params := types.Params{}
	if !cfgURL.Query().Has(types.TitleKey) {
		params.SetTitle(ev.Message)
	}
	text := Text(ev)
	done := make(chan error, 1)
	go func() {
		if err := svc.Initialize(cfgURL, nil); err != nil {
			done <- fmt.Errorf("set up: %w", err)
			return
		}
		done <- svc.Send(text, &params)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		return "", netFailure(where, ctx.Err(), s.timeout())
	}
	if err != nil {
		msg := scrubServiceError(err, c.URL)
		return "", &DeliveryError{
			Message:   fmt.Sprintf("%s did not take the message: %s", where, truncate(oneLine(msg), 300)),
			Permanent: permanentServiceError(msg),
			Err:       err,
		}
	}
	return "sent to " + where, nil
}

// permanentServiceError reports whether a shoutrrr error names an HTTP
// answer that retrying will not change (a 4xx other than 408 and 429, as
// "401 Unauthorized"). shoutrrr's errors carry no codes, so this reads the
// text; anything else is retried.
func permanentServiceError(msg string) bool {
	for code := 400; code < 500; code++ {
		if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests {
			continue
		}
		text := http.StatusText(code)
		if text == "" {
			continue
		}
		if strings.Contains(msg, fmt.Sprintf("%d %s", code, text)) {
			return true
		}
	}
	return false
}
