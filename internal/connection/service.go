package connection

import (
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

// Service creates, reads, changes, deletes and checks connections. It is the
// only place that sees plaintext credentials on their way in and out of the
// catalog, and it never returns them unmasked except to the engine (Open,
// Decrypt and the typed config methods).
type Service struct {
	cat          store.Catalog
	keys         Sealer
	roots        []string
	now          func() time.Time
	checkTimeout time.Duration

	driveMu sync.RWMutex
	drive   driveSettings
	// states remembers the Google connect states already used, until they expire.
	states *usedStates
}

// New returns a Service storing connections in cat, sealing credentials with
// keys, allowing local destinations only under roots, and reading the time
// from now (time.Now when nil).
func New(cat store.Catalog, keys Sealer, roots []string, now func() time.Time) (*Service, error) {
	if cat == nil {
		return nil, errors.New("connection service: catalog is nil")
	}
	if keys == nil {
		return nil, errors.New("connection service: keyring is nil")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{cat: cat, keys: keys, roots: append([]string(nil), roots...), now: now, checkTimeout: defaultCheckTimeout,
		states: newUsedStates()}, nil
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
	Roles               []Role          `json:"roles"`
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

// Create validates and stores a new connection. Invalid input is a 422
// *apperr.Error naming the fields ("name", "type", "credentials.<field>");
// a duplicate name is a 409.
func (s *Service) Create(ctx context.Context, name, typ string, creds json.RawMessage) (*View, error) {
	fields := map[string]string{}
	name = strings.TrimSpace(name)
	if why := nameProblem(name); why != "" {
		fields["name"] = why
	}
	var cfg any
	sp := lookup(typ)
	if sp == nil {
		fields["type"] = unknownTypeReason(typ)
	} else {
		var errs map[string]string
		cfg, errs = sp.decode(creds, s.roots)
		for k, v := range prefixFields(errs) {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("The connection was not saved; correct the fields marked.", fields)
	}
	plaintext, sealed, err := s.seal(cfg)
	if err != nil {
		return nil, err
	}
	c := &store.Connection{Name: name, Type: typ, Credentials: sealed, IsActive: true}
	if err := s.cat.CreateConnection(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, duplicateName(name, err)
		}
		return nil, fmt.Errorf("create connection %q: %w", name, err)
	}
	return s.view(c, plaintext)
}

// Get returns one connection, masked; a 404 *apperr.Error when it does not exist.
func (s *Service) Get(ctx context.Context, id int64) (*View, error) {
	c, plaintext, err := s.Open(ctx, id)
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

// Update changes the fields that are not nil. Secret credential fields sent
// back in their masked form keep the stored secret. New credentials clear
// the result of the last live check. The type cannot change.
func (s *Service) Update(ctx context.Context, id int64, name *string, creds json.RawMessage, isActive *bool) (*View, error) {
	c, plaintext, err := s.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	sp, err := specFor(c.Type)
	if err != nil {
		return nil, fmt.Errorf("connection %d has an unsupported stored type: %w", id, err)
	}
	fields := map[string]string{}
	if name != nil {
		n := strings.TrimSpace(*name)
		if why := nameProblem(n); why != "" {
			fields["name"] = why
		}
		c.Name = n
	}
	var cfg any
	credsChanged := len(creds) > 0 && string(creds) != "null"
	if credsChanged {
		var errs map[string]string
		cfg, errs = sp.decode(mergeSecrets(sp, creds, plaintext), s.roots)
		for k, v := range prefixFields(errs) {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("The connection was not saved; correct the fields marked.", fields)
	}
	if credsChanged {
		var sealed []byte
		plaintext, sealed, err = s.seal(cfg)
		if err != nil {
			return nil, err
		}
		c.Credentials = sealed
		c.LastValidatedAt = nil
		c.LastValidationError = ""
		c.NeedsReauth = false
	}
	if isActive != nil {
		c.IsActive = *isActive
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

// Delete removes a connection. It is a 409 *apperr.Error while a pending,
// running or paused operation uses the connection.
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
// not an error: it comes back with OK false and the reason. Errors are a 404
// when the connection does not exist and a 503 when this type cannot be
// checked live yet. A google_drive connection whose grant was revoked or
// expired is marked needs_reauth (and a passing check clears the mark); a
// refreshed access token is stored in place of the old one.
func (s *Service) Test(ctx context.Context, id int64) (CheckView, error) {
	c, plaintext, err := s.Open(ctx, id)
	if err != nil {
		return CheckView{}, err
	}
	sp, err := specFor(c.Type)
	if err != nil {
		return CheckView{}, fmt.Errorf("connection %d has an unsupported stored type: %w", id, err)
	}
	var (
		result   CheckView
		checkErr error
		drive    *driveRun // the grant learned by a Drive check
	)
	cfg, errs := sp.decode(plaintext, s.roots)
	if len(errs) > 0 {
		checkErr = staleCredentials(c.Name, errs)
	} else {
		check := sp.check
		if sp.typ == store.TypeGoogleDrive {
			drive = &driveRun{}
			check = s.driveCheck(drive)
		}
		checkCtx, cancel := context.WithTimeout(ctx, s.checkTimeout)
		res, err := check(checkCtx, cfg, s.roots)
		timedOut := checkCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if e, ok := apperr.As(err); ok && e.Code == apperr.Unavailable {
			return CheckView{}, err
		}
		switch {
		case err != nil && timedOut:
			checkErr = fmt.Errorf("the check did not finish within %s; make sure the server is reachable from coffer: %w", s.checkTimeout, err)
		case err != nil:
			checkErr = err
		default:
			result.OK = true
			result.Message = res.Message
			if res.FreeBytes >= 0 {
				free := res.FreeBytes
				result.FreeBytes = &free
			}
		}
	}
	if ctx.Err() != nil {
		return CheckView{}, fmt.Errorf("check connection %d: %w", id, ctx.Err())
	}
	result.CheckedAt = s.now().UTC()
	if drive != nil {
		used := cfg.(DriveConfig)
		if err := s.recordDriveGrant(ctx, id, used, drive, checkErr); err != nil {
			return CheckView{}, err
		}
		if errors.Is(checkErr, gdrive.ErrReauth) {
			checkErr = errors.New(reauthMessage(c.Name, used))
		}
	}
	errMsg := ""
	if checkErr != nil {
		errMsg = scrub(userMessage(checkErr), secretValues(sp, plaintext))
		result.Message = errMsg
	}
	if err := s.cat.SetConnectionValidation(ctx, id, result.CheckedAt, errMsg); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return CheckView{}, notFound(id, err)
		}
		return CheckView{}, fmt.Errorf("record check of connection %d: %w", id, err)
	}
	return result, nil
}

// Open returns a connection with its plaintext credentials, for the engine.
// Never send the plaintext to a client.
func (s *Service) Open(ctx context.Context, id int64) (*store.Connection, json.RawMessage, error) {
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
	return c, plaintext, nil
}

// Decrypt opens c's credentials and decodes them into the typed config of
// its type: s3.Config, local.Config, MongoConfig or DriveConfig (gdrive.Config).
func (s *Service) Decrypt(_ context.Context, c *store.Connection) (any, error) {
	sp, err := specFor(c.Type)
	if err != nil {
		return nil, fmt.Errorf("connection %d has an unsupported stored type: %w", c.ID, err)
	}
	plaintext, err := s.keys.Open(c.Credentials)
	if err != nil {
		return nil, unsealError(c, err)
	}
	cfg, errs := sp.decode(plaintext, s.roots)
	if len(errs) > 0 {
		return nil, staleCredentials(c.Name, errs)
	}
	return cfg, nil
}

// typed opens connection id, checks that it is of type typ and decodes its config.
func (s *Service) typed(ctx context.Context, id int64, typ string) (any, error) {
	c, err := s.cat.GetConnection(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound(id, err)
		}
		return nil, fmt.Errorf("read connection %d: %w", id, err)
	}
	if c.Type != typ {
		return nil, apperr.New(apperr.Invalid, "Connection %q is a %s connection, not %s.", c.Name, c.Type, typ)
	}
	return s.Decrypt(ctx, c)
}

// MongoConfig returns the decoded credentials of mongodb connection id.
func (s *Service) MongoConfig(ctx context.Context, id int64) (MongoConfig, error) {
	cfg, err := s.typed(ctx, id, store.TypeMongoDB)
	if err != nil {
		return MongoConfig{}, err
	}
	return cfg.(MongoConfig), nil
}

// DriveConfig returns the decoded credentials of google_drive connection id.
func (s *Service) DriveConfig(ctx context.Context, id int64) (DriveConfig, error) {
	cfg, err := s.typed(ctx, id, store.TypeGoogleDrive)
	if err != nil {
		return DriveConfig{}, err
	}
	return cfg.(DriveConfig), nil
}

func (s *Service) seal(cfg any) (plaintext, sealed []byte, err error) {
	plaintext, err = json.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("encode credentials: %w", err)
	}
	sealed, err = s.keys.Seal(plaintext)
	if err != nil {
		return nil, nil, fmt.Errorf("seal credentials: %w", err)
	}
	return plaintext, sealed, nil
}

func (s *Service) view(c *store.Connection, plaintext []byte) (*View, error) {
	sp, err := specFor(c.Type)
	if err != nil {
		return nil, fmt.Errorf("connection %d has an unsupported stored type: %w", c.ID, err)
	}
	masked, err := maskJSON(sp, plaintext)
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
		Roles:       sp.roles,
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

func staleCredentials(name string, errs map[string]string) error {
	return &apperr.Error{
		Code:    apperr.Invalid,
		Message: fmt.Sprintf("The stored credentials of connection %q are no longer valid; edit the connection and save it again.", name),
		Fields:  prefixFields(errs),
	}
}

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

// secretValues lists the plaintext secrets of a credentials document (and
// the password inside a MongoDB URI) so messages can be scrubbed of them.
func secretValues(sp *spec, plaintext []byte) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(plaintext, &obj) != nil {
		return nil
	}
	var out []string
	for _, f := range sp.secrets {
		var v string
		if json.Unmarshal(obj[f], &v) != nil || v == "" {
			continue
		}
		out = append(out, v)
		if _, pw, ok := uriPassword(v); ok && pw != "" {
			out = append(out, pw)
		}
	}
	return out
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
