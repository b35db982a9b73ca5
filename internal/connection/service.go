// Package connection manages coffer's configured external systems: it
// creates, reads, changes, deletes and checks connections, seals their
// credentials at rest and shows them masked, runs the Google Drive connect
// flow, and opens connections for the engine. What each connection type is
// and can do comes from internal/connector/registry.
//
// This service (with the registry) is the only place that sees plaintext
// credentials: every secret it opens is registered with the process's
// redact.Secrets, so logs and messages never show it.
package connection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
)

// Sealer encrypts credential documents at rest; *secret.Keyring implements it.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// maxNameLen is the longest connection name accepted, in characters.
const maxNameLen = 100

// defaultCheckTimeout bounds one live check.
const defaultCheckTimeout = 30 * time.Second

// Options configure a Service. The zero value allows no local directories
// and registers secrets nowhere.
type Options struct {
	// LocalRoots confines local destinations (COFFER_LOCAL_ROOTS).
	LocalRoots []string
	// Secrets learns every secret the service decrypts or is sent, so
	// that logs and error messages never show them (nil: none).
	Secrets *redact.Secrets
	// Now reads the time (time.Now when nil).
	Now func() time.Time
	// S3 tunes the S3 clients opened for operations (tests lower the part size).
	S3 s3conn.Options
	// CheckTimeout bounds one live check (default 30 s).
	CheckTimeout time.Duration
}

// Service creates, reads, changes, deletes, checks and opens connections.
// It never returns plaintext credentials: views are masked, and the engine
// gets opened connectors (OpenSource, OpenDestination, OpenTarget).
type Service struct {
	cat          store.Catalog
	keys         Sealer
	secrets      *redact.Secrets
	roots        []string
	s3           s3conn.Options
	now          func() time.Time
	checkTimeout time.Duration

	driveMu sync.RWMutex
	drive   driveSettings
	// states remembers the Google connect states already used, until they expire.
	states *usedStates
}

// New returns a Service storing connections in cat and sealing credentials with keys.
func New(cat store.Catalog, keys Sealer, opts Options) (*Service, error) {
	if cat == nil {
		return nil, errors.New("connection service: catalog is nil")
	}
	if keys == nil {
		return nil, errors.New("connection service: keyring is nil")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = defaultCheckTimeout
	}
	return &Service{cat: cat, keys: keys, secrets: opts.Secrets, roots: append([]string(nil), opts.LocalRoots...), s3: opts.S3,
		now: opts.Now, checkTimeout: opts.CheckTimeout, states: newUsedStates()}, nil
}

// env is what the registry needs to check and open connections now.
func (s *Service) env() registry.Env {
	return registry.Env{LocalRoots: s.roots, GDrive: s.driveSettings().oauth, S3: s.s3}
}

// View is a connection as the API shows it: credentials masked.
type View struct {
	ID                  int64           `json:"id"`
	Name                string          `json:"name"`
	Type                string          `json:"type"`
	Credentials         json.RawMessage `json:"credentials"`
	IsActive            bool            `json:"is_active"`
	LastValidatedAt     *time.Time      `json:"last_validated_at"`
	LastValidationError *string         `json:"last_validation_error"`
	NeedsReauth         bool            `json:"needs_reauth"`
	Roles               []registry.Role `json:"roles"`
	CreatedAt           time.Time       `json:"created_at"`
	UpdatedAt           time.Time       `json:"updated_at"`
}

// Health states of a connection, from its last live check.
const (
	HealthHealthy   = "healthy"
	HealthFailing   = "failing"
	HealthUnchecked = "unchecked"
)

// Health is HealthFailing when the last check failed or the connection must
// be authorised again, HealthUnchecked when it was never checked (or changed
// since), HealthHealthy otherwise.
func (v *View) Health() string {
	switch {
	case v.NeedsReauth || v.LastValidationError != nil:
		return HealthFailing
	case v.LastValidatedAt == nil:
		return HealthUnchecked
	}
	return HealthHealthy
}

// CheckView is the outcome of a live check as the API shows it.
type CheckView struct {
	OK        bool      `json:"ok"`
	Message   string    `json:"message"`
	FreeBytes *int64    `json:"free_bytes"`
	CheckedAt time.Time `json:"checked_at"`
}

// NewConnection is a connection to create.
type NewConnection struct {
	Name        string
	Type        string
	Credentials json.RawMessage
	// SaveUnchecked stores the connection without its live check (for a
	// server down for maintenance); it is then shown as unchecked.
	SaveUnchecked bool
}

// Change is an edit of a connection: the fields that are not nil change.
type Change struct {
	Name        *string
	Credentials json.RawMessage
	IsActive    *bool
	// SaveUnchecked stores changed credentials without their live check.
	SaveUnchecked bool
}

// Create validates the connection, runs its live check (unless
// SaveUnchecked) and stores it. Invalid input is a 422 *apperr.Error naming
// the fields ("name", "type", "credentials.<field>"); a failed check is a
// 422 whose message is the check's sentence and whose fields name
// "save_unchecked"; a duplicate name is a 409.
func (s *Service) Create(ctx context.Context, in NewConnection) (*View, error) {
	s.secrets.AddCredentials(in.Credentials)
	fields := map[string]string{}
	name := strings.TrimSpace(in.Name)
	if why := nameProblem(name); why != "" {
		fields["name"] = why
	}
	var creds registry.Creds
	t := registry.Lookup(in.Type)
	if t == nil {
		fields["type"] = registry.UnknownTypeReason(in.Type)
	} else {
		var errs map[string]string
		creds, errs = t.Decode(in.Credentials, s.env())
		for k, v := range prefixFields(errs) {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("The connection was not saved; correct the fields marked.", fields)
	}
	c := &store.Connection{Name: name, Type: in.Type, IsActive: true}
	if !in.SaveUnchecked {
		checked, at, err := s.checkBeforeSave(ctx, name, creds)
		if err != nil {
			return nil, err
		}
		creds, c.LastValidatedAt = checked, &at
	}
	plaintext, sealed, err := s.seal(creds)
	if err != nil {
		return nil, err
	}
	c.Credentials = sealed
	if err := s.cat.CreateConnection(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, duplicateName(name, err)
		}
		return nil, fmt.Errorf("create connection %q: %w", name, err)
	}
	return s.view(c, plaintext)
}

// checkBeforeSave runs the live check of credentials about to be saved. It
// returns the credentials to store (the check may have refreshed a token)
// and the time of the check, or a 422 saying why the check failed.
func (s *Service) checkBeforeSave(ctx context.Context, name string, creds registry.Creds) (registry.Creds, time.Time, error) {
	var mu sync.Mutex
	latest := creds
	_, err := s.runCheck(ctx, creds, registry.Hooks{Refreshed: func(c registry.Creds) {
		mu.Lock()
		defer mu.Unlock()
		latest = c
	}})
	if ctx.Err() != nil {
		return creds, time.Time{}, fmt.Errorf("check connection %q: %w", name, ctx.Err())
	}
	if err != nil {
		msg := s.checkMessage(name, creds, err)
		return creds, time.Time{}, &apperr.Error{Code: apperr.Invalid, Message: msg, Err: err,
			Fields: map[string]string{"save_unchecked": "the connection check failed; correct the settings, or send save_unchecked: true to save them without the check"}}
	}
	mu.Lock()
	defer mu.Unlock()
	return latest, s.now().UTC(), nil
}

// runCheck runs the live check of creds, bounded by the check timeout.
func (s *Service) runCheck(ctx context.Context, creds registry.Creds, h registry.Hooks) (CheckView, error) {
	checkCtx, cancel := context.WithTimeout(ctx, s.checkTimeout)
	defer cancel()
	res, err := creds.Check(checkCtx, s.env(), h)
	if err != nil {
		if checkCtx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("the check did not finish within %s; make sure the server is reachable from coffer: %w", s.checkTimeout, err)
		}
		return CheckView{}, err
	}
	v := CheckView{OK: true, Message: res.Message}
	if res.FreeBytes >= 0 {
		free := res.FreeBytes
		v.FreeBytes = &free
	}
	return v, nil
}

// checkMessage is the sentence shown for a failed check, with the
// connection's secrets scrubbed.
func (s *Service) checkMessage(name string, creds registry.Creds, err error) string {
	if errors.Is(err, gdrive.ErrReauth) {
		err = errors.New(reauthMessage(name, creds))
	}
	return scrub(userMessage(err), creds.SecretValues())
}

// Get returns one connection, masked; a 404 *apperr.Error when it does not exist.
func (s *Service) Get(ctx context.Context, id int64) (*View, error) {
	c, plaintext, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.view(c, plaintext)
}

// List returns every connection, masked, ordered by name.
func (s *Service) List(ctx context.Context) ([]View, error) {
	cs, err := s.cat.ListConnections(ctx)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	out := make([]View, 0, len(cs))
	for i := range cs {
		plaintext, err := s.keys.Open(cs[i].Credentials)
		if err != nil {
			// Still list it, so the user sees which one needs its credentials again.
			plaintext = []byte("{}")
			cs[i].LastValidationError = unsealError(&cs[i], err).Message
		}
		v, err := s.view(&cs[i], plaintext)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// Update changes the fields of ch that are not nil. Secret credential
// fields sent back in their masked form keep the stored secret. Credentials
// that differ from the stored ones are checked live before they are saved
// (unless ch.SaveUnchecked), as on Create; unchanged credentials keep the
// result of the last check. The type cannot change.
func (s *Service) Update(ctx context.Context, id int64, ch Change) (*View, error) {
	s.secrets.AddCredentials(ch.Credentials)
	c, plaintext, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := typeOf(c)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	if ch.Name != nil {
		n := strings.TrimSpace(*ch.Name)
		if why := nameProblem(n); why != "" {
			fields["name"] = why
		}
		c.Name = n
	}
	var creds registry.Creds
	credsChanged := false
	if len(ch.Credentials) > 0 && string(ch.Credentials) != "null" {
		var errs map[string]string
		creds, errs = t.Decode(t.MergeMasked(ch.Credentials, plaintext), s.env())
		for k, v := range prefixFields(errs) {
			fields[k] = v
		}
		if len(errs) == 0 {
			credsChanged = s.differs(t, creds, plaintext)
		}
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("The connection was not saved; correct the fields marked.", fields)
	}
	if credsChanged {
		c.LastValidatedAt, c.LastValidationError, c.NeedsReauth = nil, "", false
		if !ch.SaveUnchecked {
			checked, at, err := s.checkBeforeSave(ctx, c.Name, creds)
			if err != nil {
				return nil, err
			}
			creds, c.LastValidatedAt = checked, &at
		}
		var sealed []byte
		plaintext, sealed, err = s.seal(creds)
		if err != nil {
			return nil, err
		}
		c.Credentials = sealed
	}
	if ch.IsActive != nil {
		c.IsActive = *ch.IsActive
	}
	if err := s.cat.UpdateConnection(ctx, c); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return nil, duplicateName(c.Name, err)
		case errors.Is(err, store.ErrNotFound):
			return nil, notFound(id, err)
		}
		return nil, fmt.Errorf("update connection %d: %w", id, err)
	}
	updated, err := s.cat.GetConnection(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read connection %d after update: %w", id, err)
	}
	return s.view(updated, plaintext)
}

// differs reports whether creds are not the stored plaintext credentials
// (both compared in their canonical encoding; stored ones that no longer
// decode differ from anything).
func (s *Service) differs(t *registry.Type, creds registry.Creds, stored []byte) bool {
	old, errs := t.Decode(stored, s.env())
	if len(errs) > 0 {
		return true
	}
	a, errA := creds.JSON()
	b, errB := old.JSON()
	return errA != nil || errB != nil || !bytes.Equal(a, b)
}

// Delete removes a connection. It is a 409 *apperr.Error while a pending,
// running or paused operation or a backup plan uses the connection.
func (s *Service) Delete(ctx context.Context, id int64) error {
	c, err := s.cat.GetConnection(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id, err)
		}
		return fmt.Errorf("read connection %d: %w", id, err)
	}
	if err := s.cat.DeleteConnection(ctx, id); err != nil {
		switch {
		case errors.Is(err, store.ErrUsedByPlan):
			return apperr.Wrap(apperr.Conflict, err,
				"Connection %q is used by a backup plan; change or delete the plan first, then delete the connection.", c.Name)
		case errors.Is(err, store.ErrConflict):
			return apperr.Wrap(apperr.Conflict, err,
				"Connection %q is used by a pending, running or paused operation; wait for it to finish or cancel it, then delete the connection.", c.Name)
		case errors.Is(err, store.ErrNotFound):
			return notFound(id, err)
		}
		return fmt.Errorf("delete connection %d: %w", id, err)
	}
	return nil
}

// Test runs a live check of the connection and records its outcome
// (last_validated_at, last_validation_error). A check that ran and failed is
// not an error: it comes back with OK false and the reason. The error is a
// 404 when the connection does not exist. A google_drive connection whose
// grant was revoked or expired is marked needs_reauth (and a passing check
// clears the mark); a refreshed access token is stored in place of the old
// one unless the credentials changed meanwhile.
func (s *Service) Test(ctx context.Context, id int64) (CheckView, error) {
	c, creds, err := s.decoded(ctx, id)
	var result CheckView
	var checkErr error
	switch {
	case err == nil:
		result, checkErr = s.runCheck(ctx, creds, registry.Hooks{Refreshed: s.storeRefreshed(id, c.Credentials)})
	case c != nil && isStale(err):
		checkErr = err
	default:
		return CheckView{}, err
	}
	if ctx.Err() != nil {
		return CheckView{}, fmt.Errorf("check connection %d: %w", id, ctx.Err())
	}
	result.CheckedAt = s.now().UTC()
	if c.Type == registry.GoogleDrive && creds.Type() != nil {
		if err := s.recordGrant(ctx, c, creds, checkErr); err != nil {
			return CheckView{}, err
		}
	}
	errMsg := ""
	if checkErr != nil {
		errMsg = userMessage(checkErr)
		if creds.Type() != nil {
			errMsg = s.checkMessage(c.Name, creds, checkErr)
		}
		result.OK, result.Message, result.FreeBytes = false, errMsg, nil
	}
	if err := s.cat.SetConnectionValidation(ctx, id, result.CheckedAt, errMsg); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return CheckView{}, notFound(id, err)
		}
		return CheckView{}, fmt.Errorf("record check of connection %d: %w", id, err)
	}
	return result, nil
}

// storeRefreshed returns the hook that stores credentials a connector
// renewed while it worked (a refreshed Google token) for connection id,
// whose sealed credentials were sealed when it was opened. Each store
// replaces exactly the credentials the previous one wrote, so a user's edit
// or a reconnect made meanwhile is never overwritten (the refresh is then
// dropped, and done again by the next run).
func (s *Service) storeRefreshed(id int64, sealed []byte) func(registry.Creds) {
	var mu sync.Mutex
	cur := sealed
	return func(creds registry.Creds) {
		mu.Lock()
		defer mu.Unlock()
		s.secrets.Add(creds.SecretValues()...)
		_, next, err := s.seal(creds)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.cat.SwapConnectionCredentials(ctx, id, cur, next); err == nil {
			cur = next
		}
	}
}

// OpenSource opens connection id as what a backup reads. Errors: 404 for a
// missing connection, 422 for one that cannot be a source or whose stored
// credentials no longer validate, 409 for credentials the current secret
// key cannot open.
func (s *Service) OpenSource(ctx context.Context, id int64) (*registry.Source, error) {
	c, creds, err := s.decoded(ctx, id)
	if err != nil {
		return nil, err
	}
	src, err := creds.OpenSource(ctx, s.env())
	if err != nil {
		return nil, fmt.Errorf("open %s connection %q: %w", c.Type, c.Name, err)
	}
	src.Conn = infoOf(c)
	return src, nil
}

// OpenDestination opens connection id as an archive destination. A token
// the destination refreshes while it works is stored (see Test).
func (s *Service) OpenDestination(ctx context.Context, id int64) (*registry.Destination, error) {
	c, creds, err := s.decoded(ctx, id)
	if err != nil {
		return nil, err
	}
	d, err := creds.OpenDestination(ctx, s.env(), registry.Hooks{Refreshed: s.storeRefreshed(id, c.Credentials)})
	if err != nil {
		return nil, fmt.Errorf("open %s connection %q: %w", c.Type, c.Name, err)
	}
	return &registry.Destination{Conn: infoOf(c), Destination: d}, nil
}

// OpenTarget opens connection id as what a restore writes into.
func (s *Service) OpenTarget(ctx context.Context, id int64) (*registry.Target, error) {
	c, creds, err := s.decoded(ctx, id)
	if err != nil {
		return nil, err
	}
	tgt, err := creds.OpenTarget(ctx, s.env())
	if err != nil {
		return nil, fmt.Errorf("open %s connection %q: %w", c.Type, c.Name, err)
	}
	tgt.Conn = infoOf(c)
	return tgt, nil
}

func infoOf(c *store.Connection) registry.Info {
	return registry.Info{ID: c.ID, Name: c.Name, Type: c.Type}
}

// open reads connection id and decrypts its credentials, registering their
// secrets with the redactor.
func (s *Service) open(ctx context.Context, id int64) (*store.Connection, []byte, error) {
	c, err := s.cat.GetConnection(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, notFound(id, err)
		}
		return nil, nil, fmt.Errorf("read connection %d: %w", id, err)
	}
	plaintext, err := s.keys.Open(c.Credentials)
	if err != nil {
		return nil, nil, unsealError(c, err)
	}
	s.secrets.AddCredentials(plaintext)
	if t := registry.Lookup(c.Type); t != nil {
		s.secrets.Add(t.SecretValues(plaintext)...)
	}
	return c, plaintext, nil
}

// decoded opens connection id and decodes its credentials. Stored
// credentials that no longer validate are a 422 (isStale) returned with
// the connection.
func (s *Service) decoded(ctx context.Context, id int64) (*store.Connection, registry.Creds, error) {
	c, plaintext, err := s.open(ctx, id)
	if err != nil {
		return nil, registry.Creds{}, err
	}
	t, err := typeOf(c)
	if err != nil {
		return nil, registry.Creds{}, err
	}
	creds, errs := t.Decode(plaintext, s.env())
	if len(errs) > 0 {
		return c, registry.Creds{}, staleCredentials(c.Name, errs)
	}
	return c, creds, nil
}

// typeOf is the registry entry of a stored connection's type.
func typeOf(c *store.Connection) (*registry.Type, error) {
	t := registry.Lookup(c.Type)
	if t == nil {
		return nil, fmt.Errorf("connection %d has the unsupported stored type %q", c.ID, c.Type)
	}
	return t, nil
}

func (s *Service) seal(creds registry.Creds) (plaintext, sealed []byte, err error) {
	plaintext, err = creds.JSON()
	if err != nil {
		return nil, nil, err
	}
	sealed, err = s.keys.Seal(plaintext)
	if err != nil {
		return nil, nil, fmt.Errorf("seal credentials: %w", err)
	}
	return plaintext, sealed, nil
}

func (s *Service) view(c *store.Connection, plaintext []byte) (*View, error) {
	t, err := typeOf(c)
	if err != nil {
		return nil, err
	}
	masked, err := t.Mask(plaintext)
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", c.ID, err)
	}
	v := &View{
		ID:          c.ID,
		Name:        c.Name,
		Type:        c.Type,
		Credentials: masked,
		IsActive:    c.IsActive,
		NeedsReauth: c.NeedsReauth,
		Roles:       t.Roles(),
		CreatedAt:   c.CreatedAt.UTC(),
		UpdatedAt:   c.UpdatedAt.UTC(),
	}
	if c.LastValidatedAt != nil {
		t := c.LastValidatedAt.UTC()
		v.LastValidatedAt = &t
	}
	if c.LastValidationError != "" {
		msg := c.LastValidationError
		v.LastValidationError = &msg
	}
	return v, nil
}

// nameProblem says why name cannot name a connection ("" when it can).
func nameProblem(name string) string {
	switch {
	case name == "":
		return "is required"
	case !utf8.ValidString(name):
		return "must be valid UTF-8 text"
	case utf8.RuneCountInString(name) > maxNameLen:
		return fmt.Sprintf("must be at most %d characters long", maxNameLen)
	case name == "." || name == "..":
		return "must not be . or .."
	case strings.ContainsAny(name, `/\`):
		return `must not contain / or \ (it names a folder of archives)`
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

// prefixFields turns credential field names into "credentials.<name>" keys.
func prefixFields(fields map[string]string) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		if k == "" || k == "credentials" {
			out["credentials"] = v
			continue
		}
		out["credentials."+k] = v
	}
	return out
}

func notFound(id int64, err error) error {
	return apperr.Wrap(apperr.NotFound, err, "Connection %d does not exist.", id)
}

func duplicateName(name string, err error) error {
	return &apperr.Error{
		Code:    apperr.Conflict,
		Message: fmt.Sprintf("A connection named %q already exists; choose another name.", name),
		Fields:  map[string]string{"name": "is already used by another connection"},
		Err:     err,
	}
}

// errStale marks the 422 of stored credentials that no longer validate.
var errStale = errors.New("stored credentials no longer valid")

func staleCredentials(name string, errs map[string]string) error {
	return &apperr.Error{
		Code:    apperr.Invalid,
		Message: fmt.Sprintf("The stored credentials of connection %q are no longer valid; edit the connection and save it again.", name),
		Fields:  prefixFields(errs),
		Err:     errStale,
	}
}

func isStale(err error) bool { return errors.Is(err, errStale) }

// userMessage is the sentence shown for a failed check.
func userMessage(err error) string {
	if e, ok := apperr.As(err); ok {
		msg := e.Message
		for k, v := range e.Fields {
			msg += " " + k + " " + v + "."
		}
		return msg
	}
	return err.Error()
}

// scrub replaces every secret (4 characters or longer) in msg by a mask.
func scrub(msg string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			msg = strings.ReplaceAll(msg, sec, "****")
		}
	}
	return msg
}

// unsealError is the user's sentence for credentials the current secret key
// cannot open (a different key, or a damaged row).
func unsealError(c *store.Connection, err error) *apperr.Error {
	return apperr.Wrap(apperr.Conflict, err,
		"the credentials of connection %q cannot be decrypted with the current secret key: restore the key they were encrypted with (COFFER_SECRET_KEY or <data dir>/secret.key) or enter the credentials again", c.Name)
}
