package notify

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/format"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/coffer-backup/coffer/internal/redact"
)

// ShoutrrrConfig is the configuration of a "shoutrrr" channel.
type ShoutrrrConfig struct {
	// URL is a shoutrrr service URL (slack://..., discord://...,
	// telegram://..., ntfy://..., generic://...); the tokens, passwords and
	// IDs inside it are secret.
	URL string `json:"url"`
}

// Type is TypeShoutrrr.
func (c *ShoutrrrConfig) Type() string { return TypeShoutrrr }

// Validate checks that the URL names a known shoutrrr service and that the
// service accepts it, without contacting the service.
func (c *ShoutrrrConfig) Validate() FieldErrors {
	errs := FieldErrors{}
	switch {
	case strings.TrimSpace(c.URL) == "":
		errs["url"] = "is required (a shoutrrr service URL such as slack://..., telegram://... or ntfy://...)"
	case len(c.URL) > maxFieldLen:
		errs["url"] = fmt.Sprintf("must be at most %d bytes long", maxFieldLen)
	case strings.Contains(c.URL, "****"):
		errs["url"] = maskedReason
	default:
		if _, _, err := parseServiceURL(c.URL); err != nil {
			errs["url"] = err.Error()
		}
	}
	return errs
}

// errServiceURL is a reason a service URL is refused; its text is safe to
// show (it holds no part of the URL but the scheme).
type errServiceURL struct{ reason string }

func (e *errServiceURL) Error() string { return e.reason }

// parseServiceURL finds the service of raw and checks that the service's
// configuration accepts the URL. It returns an uninitialised service and the
// URL to initialise it with (a custom URL such as generic+https://...
// converted to the service's own form). The error is an *errServiceURL
// whose text holds no secret of raw.
func parseServiceURL(raw string) (types.Service, *url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, nil, &errServiceURL{"is not a valid URL (service://...)"}
	}
	var r router.ServiceRouter
	scheme, _, _ := strings.Cut(u.Scheme, "+")
	svc, err := r.NewService(scheme)
	if err != nil {
		names := r.ListServices()
		slices.Sort(names)
		return nil, nil, &errServiceURL{fmt.Sprintf("uses the unknown service %q; use one of %s", scheme, strings.Join(names, ", "))}
	}
	cfgURL := u
	if u.Scheme != scheme {
		custom, ok := svc.(types.CustomURLService)
		if !ok {
			return nil, nil, &errServiceURL{fmt.Sprintf("the %s service does not take a %q URL; use %s://...", scheme, u.Scheme+"://", scheme)}
		}
		cfgURL, err = custom.GetConfigURLFromCustom(u)
		if err != nil {
			return nil, nil, &errServiceURL{fmt.Sprintf("is not a valid %s URL: %s", u.Scheme, scrubServiceError(err, raw))}
		}
	}
	if err := format.GetServiceConfig(svc).SetURL(cfgURL); err != nil {
		return nil, nil, &errServiceURL{fmt.Sprintf("is not a valid %s URL: %s", scheme, scrubServiceError(err, raw))}
	}
	return svc, cfgURL, nil
}

// scrubServiceError returns the text of a shoutrrr error with every secret
// part of raw (and every URL password or token of a known shape) masked.
func scrubServiceError(err error, raw string) string {
	s := redact.NewSecrets()
	s.Add(urlSecrets(raw, serviceURLPolicy)...)
	s.Add(raw)
	msg := s.String(err.Error())
	// A secret shorter than redact.MinSecretLen is not registered; remove
	// such parts by hand.
	for _, v := range urlSecrets(raw, serviceURLPolicy) {
		if len(v) >= 3 && len(v) < redact.MinSecretLen {
			msg = strings.ReplaceAll(msg, v, redact.Mask)
		}
	}
	return strings.TrimSuffix(msg, ".")
}

// Masked returns a copy whose URL has its user info, tokens, IDs, every path
// segment and secret query values masked.
func (c *ShoutrrrConfig) Masked() Config {
	return &ShoutrrrConfig{URL: maskURL(c.URL, serviceURLPolicy)}
}

// SecretValues returns the secret parts of the URL and the URL itself.
func (c *ShoutrrrConfig) SecretValues() []string {
	if c.URL == "" {
		return nil
	}
	return append(urlSecrets(c.URL, serviceURLPolicy), c.URL)
}

func (c *ShoutrrrConfig) keepStored(stored Config) {
	if old, ok := stored.(*ShoutrrrConfig); ok {
		c.URL = mergeURL(c.URL, old.URL)
	}
}

// serviceName returns the service scheme of a shoutrrr URL ("slack").
func serviceName(raw string) string {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return "shoutrrr"
	}
	scheme, _, _ = strings.Cut(scheme, "+")
	return strings.ToLower(scheme)
}
