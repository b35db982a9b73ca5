// Package s3 connects coffer to an S3-compatible object store: as a source of
// objects to back up, as a target that objects are restored into, and as a
// destination that keeps archives (multipart uploads that can be resumed in
// another process). Callers usually import it as s3conn.
package s3

import (
	"net"
	"net/url"
	"strings"
)

// Config is the credentials document of an "s3" connection (docs/api.md).
type Config struct {
	// AccessKey and SecretKey are the connection's own keys; they are the
	// only credentials used unless UseAmbientCredentials is set.
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	// Region is the bucket's region ("us-east-1").
	Region string `json:"region"`
	// Bucket is the bucket read from (source) or written to (destination).
	Bucket string `json:"bucket"`
	// Prefix limits a source to keys starting with it, and is the folder a
	// destination keeps its archives under.
	Prefix string `json:"prefix,omitempty"`
	// Endpoint is an S3-compatible server's URL; empty means AWS.
	Endpoint string `json:"endpoint,omitempty"`
	// ForcePathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint (needed by most S3-compatible servers).
	ForcePathStyle bool `json:"force_path_style,omitempty"`
	// UseAmbientCredentials lets the server's own AWS credentials (env,
	// shared config, instance role) be used when the keys are empty.
	UseAmbientCredentials bool `json:"use_ambient_credentials,omitempty"`
}

// SecretFields names the JSON fields of Config that must be stored encrypted
// and shown masked.
func (c Config) SecretFields() []string { return []string{"secret_key"} }

// Validate checks the configuration without contacting the server. It
// returns the JSON field name -> the reason it is wrong; an empty map means
// the configuration is acceptable.
func (c Config) Validate() map[string]string {
	errs := map[string]string{}
	if !c.UseAmbientCredentials || c.AccessKey != "" || c.SecretKey != "" {
		if strings.TrimSpace(c.AccessKey) == "" {
			errs["access_key"] = "is required"
		} else if strings.ContainsAny(c.AccessKey, " \t\r\n") {
			errs["access_key"] = "must not contain spaces"
		}
		if c.SecretKey == "" {
			errs["secret_key"] = "is required"
		} else if strings.ContainsAny(c.SecretKey, "\r\n") {
			errs["secret_key"] = "must be on one line"
		}
	}
	if c.Region == "" {
		errs["region"] = "is required (for example us-east-1)"
	} else if !validRegion(c.Region) {
		errs["region"] = "must contain only lowercase letters, digits and hyphens (for example us-east-1)"
	}
	if why := bucketNameProblem(c.Bucket); why != "" {
		errs["bucket"] = why
	}
	if len(c.Prefix) > 900 {
		errs["prefix"] = "must be at most 900 characters long"
	} else if strings.ContainsRune(c.Prefix, 0) {
		errs["prefix"] = "must not contain NUL characters"
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		switch {
		case err != nil:
			errs["endpoint"] = "must be a URL such as https://s3.example.com"
		case u.Scheme != "http" && u.Scheme != "https":
			errs["endpoint"] = "must start with http:// or https://"
		case u.Host == "":
			errs["endpoint"] = "must name a host, such as https://s3.example.com"
		case u.User != nil:
			errs["endpoint"] = "must not contain a user name or password"
		case u.RawQuery != "" || u.Fragment != "":
			errs["endpoint"] = "must not contain a query or fragment"
		}
	}
	return errs
}

func validRegion(r string) bool {
	if len(r) > 64 {
		return false
	}
	for _, ch := range r {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// bucketNameProblem applies S3's bucket naming rules and returns why name
// breaks them ("" when it is valid).
func bucketNameProblem(name string) string {
	if name == "" {
		return "is required"
	}
	if len(name) < 3 || len(name) > 63 {
		return "must be between 3 and 63 characters long"
	}
	for _, ch := range name {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.') {
			return "must contain only lowercase letters, digits, dots and hyphens"
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '-' || first == '.' || last == '-' || last == '.' {
		return "must begin and end with a letter or digit"
	}
	if strings.Contains(name, "..") {
		return "must not contain two dots in a row"
	}
	if net.ParseIP(name) != nil {
		return "must not be formatted as an IP address"
	}
	if strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-") {
		return "must not begin with xn-- or sthree-"
	}
	if strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3") {
		return "must not end with -s3alias or --ol-s3"
	}
	return ""
}
