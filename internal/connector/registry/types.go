package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/local"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/strictjson"
)

// The names of the connection types, as stored in the catalog.
const (
	S3          = "s3"
	MongoDB     = "mongodb"
	GoogleDrive = "google_drive"
	Local       = "local"
)

// Limits on credential field sizes; longer values are refused.
const (
	maxFieldLen   = 4096
	maxSecretJSON = 64 << 10
)

// spec is one connection type written with its own config type C; def
// turns it into a Type. Nil open functions mean the type cannot play that role.
type spec[C any] struct {
	name    string
	roles   []Role
	secrets []string
	// mask and merge default to secret.Mask and "keep the stored value
	// when the masked one comes back".
	mask        func(field, value string) string
	merge       func(field, sent, stored string) string
	secretParts func(value string) []string
	// validate checks a strictly decoded config: field -> reason.
	validate    func(c C, env Env) map[string]string
	check       func(ctx context.Context, c C, env Env, h Hooks) (connector.CheckResult, error)
	source      func(ctx context.Context, c C, env Env) (*Source, error)
	destination func(ctx context.Context, c C, env Env, h Hooks) (connector.Destination, error)
	target      func(ctx context.Context, c C, env Env) (*Target, error)
}

// def makes the Type of s: the typed functions wrapped for configs held as any.
func def[C any](s spec[C]) *Type {
	t := &Type{name: s.name, roles: s.roles, secrets: s.secrets, mask: s.mask, merge: s.merge, secretParts: s.secretParts}
	if t.mask == nil {
		t.mask = func(_, v string) string { return secret.Mask(v) }
	}
	if t.merge == nil {
		t.merge = func(_, sent, stored string) string {
			if secret.IsMasked(sent) {
				return stored
			}
			return sent
		}
	}
	t.decode = func(data []byte, env Env) (any, map[string]string) {
		var c C
		if errs := strictjson.Decode(data, &c); errs != nil {
			return nil, errs
		}
		if errs := s.validate(c, env); len(errs) > 0 {
			return nil, errs
		}
		return c, nil
	}
	t.check = func(ctx context.Context, cfg any, env Env, h Hooks) (connector.CheckResult, error) {
		return s.check(ctx, cfg.(C), env, h)
	}
	if s.source != nil {
		t.source = func(ctx context.Context, cfg any, env Env) (*Source, error) { return s.source(ctx, cfg.(C), env) }
	}
	if s.destination != nil {
		t.destination = func(ctx context.Context, cfg any, env Env, h Hooks) (connector.Destination, error) {
			return s.destination(ctx, cfg.(C), env, h)
		}
	}
	if s.target != nil {
		t.target = func(ctx context.Context, cfg any, env Env) (*Target, error) { return s.target(ctx, cfg.(C), env) }
	}
	return t
}

// checkLen records a reason in errs when value is longer than max bytes or
// not valid UTF-8.
func checkLen(errs map[string]string, field, value string, max int) {
	if len(value) > max {
		errs[field] = fmt.Sprintf("must be at most %d bytes long", max)
		return
	}
	if !utf8.ValidString(value) {
		errs[field] = "must be valid UTF-8 text"
	}
}

func s3Type() *Type {
	open := func(ctx context.Context, c s3conn.Config, env Env) (*s3conn.Client, error) {
		cl, err := s3conn.New(ctx, c, env.S3)
		if err != nil {
			return nil, fmt.Errorf("prepare the S3 client: %w", err)
		}
		return cl, nil
	}
	return def(spec[s3conn.Config]{
		name:    S3,
		roles:   []Role{RoleSource, RoleDestination, RoleRestoreTarget},
		secrets: s3conn.Config{}.SecretFields(),
		validate: func(c s3conn.Config, _ Env) map[string]string {
			errs := c.Validate()
			checkLen(errs, "access_key", c.AccessKey, maxFieldLen)
			checkLen(errs, "secret_key", c.SecretKey, maxFieldLen)
			checkLen(errs, "endpoint", c.Endpoint, maxFieldLen)
			return errs
		},
		check: func(ctx context.Context, c s3conn.Config, env Env, _ Hooks) (connector.CheckResult, error) {
			opts := env.S3
			opts.MaxAttempts = 1 // a check says at once what is wrong
			cl, err := s3conn.New(ctx, c, opts)
			if err != nil {
				return connector.CheckResult{}, fmt.Errorf("prepare the S3 client: %w", err)
			}
			return cl.Check(ctx)
		},
		source: func(ctx context.Context, c s3conn.Config, env Env) (*Source, error) {
			cl, err := open(ctx, c, env)
			if err != nil {
				return nil, err
			}
			return &Source{Objects: cl}, nil
		},
		destination: func(ctx context.Context, c s3conn.Config, env Env, _ Hooks) (connector.Destination, error) {
			cl, err := open(ctx, c, env)
			if err != nil {
				return nil, err // not a nil *Client inside a non-nil interface
			}
			return cl, nil
		},
		target: func(ctx context.Context, c s3conn.Config, env Env) (*Target, error) {
			cl, err := open(ctx, c, env)
			if err != nil {
				return nil, err
			}
			return &Target{Objects: cl.Target}, nil
		},
	})
}

func mongoType() *Type {
	open := func(ctx context.Context, c mongodb.Config) (*mongodb.Client, error) {
		mc, err := mongodb.New(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("connect to MongoDB: %w", err)
		}
		return mc, nil
	}
	return def(spec[mongodb.Config]{
		name:    MongoDB,
		roles:   []Role{RoleSource, RoleRestoreTarget},
		secrets: []string{"uri"},
		mask:    func(_, v string) string { return maskMongoURI(v) },
		merge:   func(_, sent, stored string) string { return mergeMongoURI(sent, stored) },
		secretParts: func(uri string) []string {
			_, pw, ok := mongodb.URIPassword(uri)
			if !ok || pw == "" {
				return nil
			}
			out := []string{pw}
			if un, err := url.PathUnescape(pw); err == nil && un != pw {
				out = append(out, un)
			}
			return out
		},
		validate: func(c mongodb.Config, _ Env) map[string]string {
			errs := c.Validate()
			if _, pw, ok := mongodb.URIPassword(c.URI); ok && pw == mongodb.PasswordMask && errs["uri"] == "" {
				errs["uri"] = "holds the masked password; type the password again when changing the user name"
			}
			return errs
		},
		check: func(ctx context.Context, c mongodb.Config, _ Env, _ Hooks) (connector.CheckResult, error) {
			mc, err := mongodb.New(ctx, c)
			if err != nil {
				return connector.CheckResult{}, err
			}
			defer mc.Close()
			return mc.Check(ctx)
		},
		source: func(ctx context.Context, c mongodb.Config, _ Env) (*Source, error) {
			mc, err := open(ctx, c)
			if err != nil {
				return nil, err
			}
			return &Source{Mongo: mc}, nil
		},
		target: func(ctx context.Context, c mongodb.Config, _ Env) (*Target, error) {
			mc, err := open(ctx, c)
			if err != nil {
				return nil, err
			}
			return &Target{Mongo: mc}, nil
		},
	})
}

// maskMongoURI hides the password inside a MongoDB connection string
// ("mongodb://user:****@host/db"); a URI without a password is unchanged.
// A string that is not a MongoDB URI is masked whole.
func maskMongoURI(uri string) string {
	if !mongodb.IsURI(uri) {
		return secret.Mask(uri)
	}
	prefix, pw, ok := mongodb.URIPassword(uri)
	if !ok {
		return uri
	}
	return prefix + mongodb.PasswordMask + uri[len(prefix)+len(pw):]
}

// mergeMongoURI puts the stored password back into a URI whose password is
// the mask, so a client can change the host or options without typing the
// password again. The user name must be the stored one.
func mergeMongoURI(sent, stored string) string {
	sentPrefix, sentPw, ok := mongodb.URIPassword(sent)
	if !ok || sentPw != mongodb.PasswordMask {
		return sent
	}
	storedPrefix, storedPw, ok := mongodb.URIPassword(stored)
	if !ok || storedPrefix[strings.Index(storedPrefix, "://"):] != sentPrefix[strings.Index(sentPrefix, "://"):] {
		return sent
	}
	return sentPrefix + storedPw + sent[len(sentPrefix)+len(sentPw):]
}

func driveType() *Type {
	var self *Type
	// open makes the Drive client; a refreshed token reaches h.Refreshed as
	// the connection's new credentials.
	open := func(ctx context.Context, c gdrive.Config, env Env, h Hooks) (*gdrive.Client, error) {
		if c.ServiceAccountJSON == "" && c.RefreshToken != "" && (env.GDrive.ClientID == "" || env.GDrive.ClientSecret == "") {
			return nil, errDriveNotConfigured()
		}
		opts := gdrive.Options{OAuth: env.GDrive}
		if h.Refreshed != nil {
			opts.OnToken = func(tok *oauth2.Token) {
				next := c
				next.AccessToken, next.Expiry = tok.AccessToken, tok.Expiry.UTC()
				if tok.RefreshToken != "" {
					next.RefreshToken = tok.RefreshToken
				}
				h.Refreshed(Creds{typ: self, cfg: next})
			}
		}
		cl, err := gdrive.New(ctx, c, opts)
		if err != nil {
			return nil, fmt.Errorf("prepare the Google Drive client: %w", err)
		}
		return cl, nil
	}
	self = def(spec[gdrive.Config]{
		name:    GoogleDrive,
		roles:   []Role{RoleDestination},
		secrets: []string{"access_token", "refresh_token", "service_account_json"},
		validate: func(c gdrive.Config, _ Env) map[string]string {
			errs := c.Validate()
			checkLen(errs, "access_token", c.AccessToken, maxFieldLen)
			checkLen(errs, "refresh_token", c.RefreshToken, maxFieldLen)
			checkLen(errs, "service_account_json", c.ServiceAccountJSON, maxSecretJSON)
			return errs
		},
		check: func(ctx context.Context, c gdrive.Config, env Env, h Hooks) (connector.CheckResult, error) {
			cl, err := open(ctx, c, env, h)
			if err != nil {
				return connector.CheckResult{}, err
			}
			return cl.Check(ctx)
		},
		destination: func(ctx context.Context, c gdrive.Config, env Env, h Hooks) (connector.Destination, error) {
			cl, err := open(ctx, c, env, h)
			if err != nil {
				return nil, err
			}
			return cl, nil
		},
	})
	return self
}

// errDriveNotConfigured is the answer when the server has no Google OAuth client.
func errDriveNotConfigured() error {
	return errors.New("Google Drive is not set up on this server; set COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET and restart coffer")
}

func localType() *Type {
	return def(spec[local.Config]{
		name:  Local,
		roles: []Role{RoleDestination},
		validate: func(c local.Config, env Env) map[string]string {
			return c.Validate(env.LocalRoots)
		},
		check: func(ctx context.Context, c local.Config, _ Env, _ Hooks) (connector.CheckResult, error) {
			d, err := local.New(c)
			if err != nil {
				return connector.CheckResult{}, err
			}
			return d.Check(ctx)
		},
		destination: func(_ context.Context, c local.Config, _ Env, _ Hooks) (connector.Destination, error) {
			d, err := local.New(c)
			if err != nil {
				return nil, err
			}
			return d, nil
		},
	})
}
