package mongodb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
)

// Client is a connection to one MongoDB deployment. It is safe for concurrent
// use; Close releases its connections.
type Client struct {
	cfg    Config
	hosts  string   // host list for messages (no credentials)
	secret []string // the password as typed and unescaped, hidden from error texts
	mc     *mongo.Client

	// basicTypes is set once the server refused a $type code: range
	// queries then name only the types every server knows.
	basicTypes atomic.Bool
	// noBSONSize is set once the server refused to sum $bsonSize: Measure
	// then counts on this side.
	noBSONSize atomic.Bool

	capsMu sync.Mutex
	caps   *Caps // what Caps found, once asked
}

// checkTimeout bounds how long Check waits for a server.
const checkTimeout = 10 * time.Second

// New prepares a client for cfg. It validates the configuration and parses
// the URI (a mongodb+srv:// name is resolved here) but connects lazily: the
// first operation, or Check, reaches the server.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, apperr.InvalidFields("The MongoDB connection settings are not valid.", errs)
	}
	c := &Client{cfg: cfg, secret: uriSecrets(cfg.URI)}
	opts := options.Client().ApplyURI(cfg.URI)
	if err := opts.Validate(); err != nil {
		return nil, apperr.Wrap(apperr.Invalid, c.hide(err),
			"The MongoDB connection string could not be used: %s. Correct the URI in the connection settings.", c.hide(err))
	}
	if cfg.AuthDatabase != "" && opts.Auth != nil {
		opts.Auth.AuthSource = cfg.AuthDatabase
	}
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(15 * time.Second)
	}
	if opts.ConnectTimeout == nil {
		opts.SetConnectTimeout(10 * time.Second)
	}
	if opts.AppName == nil {
		opts.SetAppName("coffer")
	}
	c.hosts = strings.Join(opts.Hosts, ",")
	if c.hosts == "" {
		c.hosts = "the configured host"
	}
	mc, err := mongo.Connect(opts)
	if err != nil {
		return nil, c.explain(err, "connect")
	}
	c.mc = mc
	return c, nil
}

// Close disconnects from the server.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.mc.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnecting from MongoDB: %w", c.hide(err))
	}
	return nil
}

// Check pings the server, then confirms that the configured database can be
// listed (or, with no database configured, that the databases can be
// listed). A failure is an apperr with a sentence for the user: bad
// credentials, unreachable host, TLS problems, missing permissions.
func (c *Client) Check(ctx context.Context) (connector.CheckResult, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := c.mc.Ping(ctx, nil); err != nil {
		return connector.CheckResult{}, c.explain(err, "connect")
	}
	if c.cfg.Database != "" {
		names, err := c.mc.Database(c.cfg.Database).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return connector.CheckResult{}, c.explain(err, fmt.Sprintf("list the collections of database %q", c.cfg.Database))
		}
		n := 0
		for _, name := range names {
			if !strings.HasPrefix(name, "system.") {
				n++
			}
		}
		msg := fmt.Sprintf("Connected to MongoDB at %s; database %q has %d collection%s.", c.hosts, c.cfg.Database, n, plural(n))
		if n == 0 {
			msg = fmt.Sprintf("Connected to MongoDB at %s; database %q has no collections yet (a restore creates it).", c.hosts, c.cfg.Database)
		}
		return connector.CheckResult{Message: msg, FreeBytes: -1}, nil
	}
	dbs, err := c.Databases(ctx)
	if err != nil {
		return connector.CheckResult{}, err
	}
	return connector.CheckResult{
		Message:   fmt.Sprintf("Connected to MongoDB at %s; %d database%s to back up.", c.hosts, len(dbs), plural(len(dbs))),
		FreeBytes: -1,
	}, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// systemDatabases are never backed up when no database is configured.
var systemDatabases = []string{"admin", "local", "config"}

// Databases returns the databases a backup covers: the configured one, or
// every non-system database, sorted by name.
func (c *Client) Databases(ctx context.Context) ([]string, error) {
	if c.cfg.Database != "" {
		return []string{c.cfg.Database}, nil
	}
	names, err := c.mc.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return nil, c.explain(err, "list the databases")
	}
	out := names[:0]
	for _, n := range names {
		if !slices.Contains(systemDatabases, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Collection describes a collection or view as listCollections and
// listIndexes report it; it is what .metadata.json carries.
type Collection struct {
	// Name is the collection's name within its database.
	Name string
	// Type is "collection" or "view" (or another type the server reports,
	// such as "timeseries").
	Type string
	// Options are the collection options as the server lists them (for a
	// view: viewOn and pipeline). Never nil: an empty document when none.
	Options bson.Raw
	// UUID is the collection UUID in lowercase hex without dashes ("" when
	// the server reports none).
	UUID string
	// Indexes are the index specifications exactly as listIndexes returns
	// them (v, key, name and every option). Views have none.
	Indexes []bson.Raw
}

// emptyDoc is an empty BSON document.
var emptyDoc = bson.Raw{5, 0, 0, 0, 0}

// Collections lists the collections and views of db sorted by name, with
// their options, UUIDs and indexes. system.* collections are skipped.
func (c *Client) Collections(ctx context.Context, db string) ([]Collection, error) {
	cur, err := c.mc.Database(db).ListCollections(ctx, bson.D{})
	if err != nil {
		return nil, c.explain(err, fmt.Sprintf("list the collections of database %q", db))
	}
	defer cur.Close(context.WithoutCancel(ctx)) //nolint:errcheck // reading already failed or finished
	var out []Collection
	for cur.Next(ctx) {
		info := cur.Current
		name, ok := info.Lookup("name").StringValueOK()
		if !ok {
			return nil, fmt.Errorf("listing the collections of database %q: an entry has no name", db)
		}
		if strings.HasPrefix(name, "system.") {
			continue
		}
		coll := Collection{Name: name, Type: "collection", Options: emptyDoc}
		if t, ok := info.Lookup("type").StringValueOK(); ok && t != "" {
			coll.Type = t
		}
		if o, ok := info.Lookup("options").DocumentOK(); ok {
			coll.Options = slices.Clone(o)
		}
		if sub, u, ok := info.Lookup("info", "uuid").BinaryOK(); ok && (sub == 4 || sub == 3) {
			coll.UUID = hex.EncodeToString(u)
		}
		out = append(out, coll)
	}
	if err := cur.Err(); err != nil {
		return nil, c.explain(err, fmt.Sprintf("list the collections of database %q", db))
	}
	slices.SortFunc(out, func(a, b Collection) int { return strings.Compare(a.Name, b.Name) })
	for i := range out {
		if out[i].Type == "view" {
			continue
		}
		idx, err := c.indexes(ctx, db, out[i].Name)
		if err != nil {
			return nil, err
		}
		out[i].Indexes = idx
	}
	return out, nil
}

// indexes lists the index specifications of db.coll as the server gives them.
func (c *Client) indexes(ctx context.Context, db, coll string) ([]bson.Raw, error) {
	cur, err := c.mc.Database(db).Collection(coll).Indexes().List(ctx)
	var sse mongo.ServerError
	if errors.As(err, &sse) && sse.HasErrorCode(26) { // NamespaceNotFound: no collection, no indexes
		return []bson.Raw{}, nil
	}
	if err != nil {
		return nil, c.explain(err, fmt.Sprintf("list the indexes of %s.%s", db, coll))
	}
	defer cur.Close(context.WithoutCancel(ctx)) //nolint:errcheck // reading already failed or finished
	idx := []bson.Raw{}
	for cur.Next(ctx) {
		idx = append(idx, slices.Clone(cur.Current))
	}
	if err := cur.Err(); err != nil {
		return nil, c.explain(err, fmt.Sprintf("list the indexes of %s.%s", db, coll))
	}
	return idx, nil
}

// IsTransient reports whether err is a failure worth retrying: a network
// error, a timeout that is not the caller's own deadline, or no reachable
// server.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if mongo.IsNetworkError(err) {
		return true
	}
	var sse mongo.ServerError
	if errors.As(err, &sse) {
		for _, code := range []int{6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436} {
			if sse.HasErrorCode(code) {
				return true
			}
		}
		return sse.HasErrorLabel("RetryableWriteError") || sse.HasErrorLabel("TransientTransactionError")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return mongo.IsTimeout(err) || strings.Contains(err.Error(), "server selection error")
}

// hide returns err with its text redacted: URI passwords and the
// connection's password never appear in Error(). The original stays
// reachable through errors.Is/As for classification.
func (c *Client) hide(err error) error {
	if err == nil {
		return nil
	}
	var h *hiddenError
	if errors.As(err, &h) {
		return err
	}
	return &hiddenError{err: err, secrets: c.secret}
}

// hiddenError is an error whose text has secrets removed.
type hiddenError struct {
	err     error
	secrets []string
}

func (e *hiddenError) Error() string {
	s := Redact(e.err.Error())
	for _, sec := range e.secrets {
		s = strings.ReplaceAll(s, sec, redactMask)
	}
	return s
}

func (e *hiddenError) Unwrap() error { return e.err }

// uriSecrets returns the password of a URI, raw and unescaped, when it is
// long enough to be hidden in texts without mangling them.
func uriSecrets(uri string) []string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return nil
	}
	at := strings.LastIndex(hostPart(rest), "@")
	if at < 0 {
		return nil
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok || len(pw) < 4 {
		return nil
	}
	out := []string{pw}
	if un, err := url.PathUnescape(pw); err == nil && un != pw && len(un) >= 4 {
		out = append(out, un)
	}
	return out
}

// explain turns a driver error into an apperr with a sentence for the user.
// what names the action ("connect", "read collection a.b"). The cause is
// kept (redacted) for logs.
func (c *Client) explain(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("mongodb: %s: %w", what, c.hide(err))
	}
	herr := c.hide(err)
	msg := herr.Error()
	lower := strings.ToLower(msg)
	var sse mongo.ServerError
	isServer := errors.As(err, &sse)
	switch {
	case isServer && sse.HasErrorCode(18), strings.Contains(lower, "authentication failed"), strings.Contains(lower, "auth error"):
		return apperr.Wrap(apperr.Invalid, herr,
			"MongoDB refused the user name or password (authentication failed). Check the credentials in the connection URI and the authentication database.")
	case isServer && sse.HasErrorCode(13):
		return apperr.Wrap(apperr.Forbidden, herr,
			"The MongoDB user is not allowed to %s. Give it the backup role (for backups) or the restore role (for restores).", what)
	case isTLSError(err, lower):
		return apperr.Wrap(apperr.Unavailable, herr,
			"The TLS connection to MongoDB at %s failed (%s). Check the tls options and certificate files in the URI, and that the server expects TLS.", c.hosts, tlsReason(err, lower))
	case isDNSError(err), strings.Contains(lower, "no such host"):
		return apperr.Wrap(apperr.Unavailable, herr,
			"The MongoDB host name in %s could not be resolved. Check the host in the connection URI.", c.hosts)
	case errors.Is(err, context.DeadlineExceeded) && !strings.Contains(lower, "server selection"):
		return fmt.Errorf("mongodb: %s: %w", what, herr)
	case strings.Contains(lower, "server selection"), strings.Contains(lower, "connection refused"),
		strings.Contains(lower, "no reachable servers"), mongo.IsNetworkError(err):
		return apperr.Wrap(apperr.Unavailable, herr,
			"MongoDB at %s could not be reached. Check the host and port in the connection URI and that the server is running and accepts connections from this machine.", c.hosts)
	case isServer:
		return apperr.Wrap(apperr.Unavailable, herr, "MongoDB failed to %s: %s.", what, serverMessage(err, msg))
	}
	return apperr.Wrap(apperr.Unavailable, herr, "Coffer could not %s on MongoDB at %s. Try again later.", what, c.hosts)
}

// serverMessage is the server's own reason for a command failure.
func serverMessage(err error, fallback string) string {
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Message != "" {
		return strings.TrimSuffix(Redact(ce.Message), ".")
	}
	return strings.TrimSuffix(fallback, ".")
}

func isTLSError(err error, lower string) bool {
	var (
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &uae) || errors.As(err, &hne) ||
		errors.As(err, &cie) || strings.Contains(lower, "x509:") || strings.Contains(lower, "tls:") ||
		strings.Contains(lower, "first record does not look like a tls handshake")
}

func tlsReason(err error, lower string) string {
	var (
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &uae), strings.Contains(lower, "unknown authority"):
		return "the server's certificate is signed by an unknown authority"
	case errors.As(err, &hne), strings.Contains(lower, "certificate is valid for"):
		return "the server's certificate is for another host name"
	case errors.As(err, &cie), strings.Contains(lower, "expired"):
		return "the server's certificate is not valid (expired or not yet valid)"
	case errors.As(err, &rhe), strings.Contains(lower, "does not look like a tls handshake"):
		return "the server does not speak TLS"
	}
	return "the TLS handshake failed"
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
