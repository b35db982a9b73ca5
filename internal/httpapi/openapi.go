package httpapi

//go:generate go run ./cmd/gentypes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/notify"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/version"
)

// openapiPath is where the OpenAPI document is served, under apiPrefix. It
// needs no login: it describes the API, it holds nothing of the installation.
const openapiPath = "/openapi.json"

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

// doc is the OpenAPI documentation of one route, written beside it in the
// route table (server.routes). The OpenAPI document is built from the table
// alone, and a route whose doc lacks a tag, a summary or a success answer
// stops the server from starting.
type doc struct {
	// tag groups routes in the document, usually the first path segment.
	tag string
	// summary says in one sentence what the route does.
	summary string
	// params are the query parameters (see query); {id} in the path is
	// documented from the path, any other path wildcard must be listed here.
	params []obj
	// body names the request body's schema in openapiSchemas, "" for none.
	body string
	// responses maps each status the handler writes to its response
	// (jsonResponse, errResponse, noContent...). 401 and 403 are added from
	// the route's access level.
	responses obj
}

// Schema and response helpers.

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func str(desc string) obj {
	o := obj{"type": "string"}
	if desc != "" {
		o["description"] = desc
	}
	return o
}

func enum[S ~string](values ...S) obj { return obj{"type": "string", "enum": values} }

func integer(desc string) obj {
	o := obj{"type": "integer", "format": "int64"}
	if desc != "" {
		o["description"] = desc
	}
	return o
}

func boolean(desc string) obj {
	o := obj{"type": "boolean"}
	if desc != "" {
		o["description"] = desc
	}
	return o
}

func dateTime(nullable bool) obj {
	o := obj{"type": "string", "format": "date-time"}
	if nullable {
		o["nullable"] = true
	}
	return o
}

func arrayOf(items obj) obj { return obj{"type": "array", "items": items} }

func nullable(o obj) obj {
	out := obj{}
	for k, v := range o {
		out[k] = v
	}
	out["nullable"] = true
	return out
}

// anyJSON is a JSON object with any members.
func anyJSON(desc string) obj {
	o := obj{"type": "object", "additionalProperties": true}
	if desc != "" {
		o["description"] = desc
	}
	return o
}

// object is an object schema; required lists the properties that must be present.
func object(desc string, required []string, props obj) obj {
	o := obj{"type": "object", "properties": props}
	if desc != "" {
		o["description"] = desc
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// closed is an object schema for a request body: the API refuses unknown fields.
func closed(desc string, required []string, props obj) obj {
	o := object(desc, required, props)
	o["additionalProperties"] = false
	return o
}

// listOf is the paged list shape of docs/api.md.
func listOf(item string) obj {
	return object("One page of a list, newest first.", []string{"items", "page", "per_page", "total"}, obj{
		"items":    arrayOf(ref(item)),
		"page":     integer("The page returned, from 1."),
		"per_page": integer("Items per page."),
		"total":    integer("Items on all pages."),
	})
}

// itemsOf is an unpaged list.
func itemsOf(item string) obj {
	return object("Every item.", []string{"items"}, obj{"items": arrayOf(ref(item))})
}

// countsOf is a count for every status in statuses (the dashboard sends a
// zero for a status without operations).
func countsOf(desc string, statuses []string) obj {
	props := obj{}
	for _, st := range statuses {
		props[st] = integer("")
	}
	return object(desc, statuses, props)
}

func jsonResponse(desc, schema string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

// acceptedResponse is a 202 with the queued operation and its URL in Location.
func acceptedResponse(desc, schema string) obj {
	r := jsonResponse(desc, schema)
	r["headers"] = obj{"Location": obj{"schema": str("")}}
	return r
}

func errResponse(desc string) obj { return jsonResponse(desc, "ErrorBody") }

func noContent(desc string) obj { return obj{"description": desc} }

// The error answers many routes share.

func respNotFound() obj { return errResponse("There is nothing with this id.") }

func respInvalid() obj {
	return errResponse("The body or a query parameter is invalid; `fields` names each problem.")
}

// respUncheckedInvalid is the 422 of a connection saved with its live check.
func respUncheckedInvalid() obj {
	return errResponse("Fields not valid, or the live check failed: the error says why and fields.save_unchecked is set.")
}

func respBadBody() obj {
	return errResponse("The body is not JSON, has unknown fields or wrong types, or is not application/json (415) or too large (413).")
}

func respConflict() obj { return errResponse("The operation is not in a state that allows this.") }

func respTooMany() obj {
	return errResponse("Too many requests; the Retry-After header says how many seconds to wait.")
}

func query(name, desc string, schema obj) obj {
	return obj{"name": name, "in": "query", "required": false, "description": desc, "schema": schema}
}

// pageParams are page and per_page, after the params given.
func pageParams(params ...obj) []obj {
	return append(params,
		query("page", "Page number, from 1.", obj{"type": "integer", "minimum": 1, "default": 1}),
		query("per_page", "Items per page.", obj{"type": "integer", "minimum": 1, "maximum": maxPerPage, "default": defaultPerPage}),
	)
}

func logParams() []obj {
	return []obj{
		query("after", "Return only lines with an id greater than this.", obj{"type": "integer", "minimum": 0, "default": 0}),
		query("limit", "Most lines to return.", obj{"type": "integer", "minimum": 1, "maximum": maxLogLimit, "default": defaultLogLimit}),
	}
}

func streamParams() []obj {
	return []obj{query("after", "Start after this log id (Last-Event-ID takes precedence).", obj{"type": "integer", "minimum": 0})}
}

func sseResponse(desc string) obj {
	return obj{"description": desc, "content": obj{"text/event-stream": obj{"schema": obj{"type": "string",
		"description": "Server-sent events: `event: log` with a LogEntry as data and the log id as the event id, " +
			"`: heartbeat` comments, and a final `event: end` with data {\"status\": \"<final status>\"}. " +
			"Reconnect with Last-Event-ID (or ?after=) to continue."}}}}
}

// withErrors adds the error answers every route can give after authentication.
func withErrors(a access, r obj) obj {
	out := obj{}
	for k, v := range r {
		out[k] = v
	}
	if a != public {
		out["401"] = errResponse("Not signed in, or the API token is not valid.")
		if a != reader {
			out["403"] = errResponse("Your role may not do this.")
		}
	}
	return out
}

// roleName is the x-coffer-role value of an access level.
func roleName(a access) string {
	switch a {
	case public:
		return "public"
	case reader:
		return "viewer"
	case operator:
		return "operator"
	}
	return "admin"
}

// OpenAPI returns the OpenAPI 3 document GET /api/v1/openapi.json serves,
// built from the route table. cmd/gentypes turns its schemas into the web
// UI's TypeScript types (web/src/api/generated.ts).
func OpenAPI() ([]byte, error) {
	return openapiJSON((&server{}).routes())
}

// openapiJSON is the OpenAPI document of routes, encoded.
func openapiJSON(routes []route) ([]byte, error) {
	d, err := openapiDocument(routes)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// openapiDocument builds the OpenAPI 3.0.3 document of /api/v1 from the
// route table. It refuses a route without documentation, a path wildcard
// that is not documented and a reference to a schema that does not exist.
func openapiDocument(routes []route) (obj, error) {
	schemas := openapiSchemas()
	paths := obj{}
	tags := []any{}
	seenTag := map[string]bool{}
	for _, rt := range routes {
		op, err := operation(rt, schemas)
		if err != nil {
			return nil, fmt.Errorf("route %s %s: %w", rt.method, rt.path, err)
		}
		item, _ := paths[rt.path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.path] = item
		}
		m := strings.ToLower(rt.method)
		if _, dup := item[m]; dup {
			return nil, fmt.Errorf("route %s %s is in the route table twice", rt.method, rt.path)
		}
		item[m] = op
		if !seenTag[rt.doc.tag] {
			seenTag[rt.doc.tag] = true
			tags = append(tags, obj{"name": rt.doc.tag})
		}
	}
	d := obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":   "coffer API",
			"version": version.Version,
			"description": "The JSON API of coffer, a self-hosted backup manager. Every route needs a session cookie " +
				"(from POST /auth/login) or an API token (Authorization: Bearer) unless marked otherwise; x-coffer-role " +
				"is the least role a route needs (viewer < operator < admin). Errors are {\"error\": \"...\", \"fields\": {...}}. " +
				"Requests that change something from a browser must come from coffer's own origin.",
		},
		"servers":    []any{obj{"url": apiPrefix}},
		"tags":       tags,
		"security":   []any{obj{"bearerAuth": []any{}}, obj{"sessionCookie": []any{}}},
		"paths":      paths,
		"components": obj{"securitySchemes": securitySchemes(), "schemas": schemas},
	}
	if err := checkRefs("#", d, schemas); err != nil {
		return nil, err
	}
	return d, nil
}

// pathWildcard matches a ServeMux wildcard such as {id}.
var pathWildcard = regexp.MustCompile(`\{([^}]+)\}`)

// operation is the OpenAPI operation of rt.
func operation(rt route, schemas obj) (obj, error) {
	d := rt.doc
	switch {
	case d.tag == "":
		return nil, errors.New("its doc has no tag")
	case d.summary == "":
		return nil, errors.New("its doc has no summary")
	}
	success := false
	for code := range d.responses {
		if code != "" && (code[0] == '2' || code[0] == '3') {
			success = true
		}
	}
	if !success {
		return nil, errors.New("its doc lists no success response")
	}
	params := []obj{}
	declared := map[string]bool{}
	if strings.Contains(rt.path, "{id}") {
		params = append(params, obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "integer", "format": "int64", "minimum": 1}})
		declared["id"] = true
	}
	for _, p := range d.params {
		if p["in"] == "path" {
			name, _ := p["name"].(string)
			declared[name] = true
		}
		params = append(params, p)
	}
	for _, m := range pathWildcard.FindAllStringSubmatch(rt.path, -1) {
		if !declared[m[1]] {
			return nil, fmt.Errorf("the path wildcard {%s} is not documented in its doc's params", m[1])
		}
	}
	o := obj{
		"operationId":   operationID(rt.method, rt.path),
		"summary":       d.summary,
		"tags":          []string{d.tag},
		"responses":     withErrors(rt.access, d.responses),
		"x-coffer-role": roleName(rt.access),
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if rt.access == public {
		o["security"] = []any{}
	}
	if d.body != "" {
		if _, ok := schemas[d.body]; !ok {
			return nil, fmt.Errorf("its body schema %q is not in openapiSchemas", d.body)
		}
		o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(d.body)}}}
	}
	return o, nil
}

// checkRefs reports the first schema reference under v (a $ref, or a
// discriminator mapping) that names no schema.
func checkRefs(where string, v any, schemas obj) error {
	resolves := func(r string) bool {
		name, ok := strings.CutPrefix(r, "#/components/schemas/")
		_, found := schemas[name]
		return ok && found
	}
	switch x := v.(type) {
	case obj:
		if r, ok := x["$ref"].(string); ok && !resolves(r) {
			return fmt.Errorf("%s: $ref %q names no schema", where, r)
		}
		if strings.HasSuffix(where, "/discriminator") {
			if m, ok := x["mapping"].(obj); ok {
				for k, r := range m {
					if s, _ := r.(string); !resolves(s) {
						return fmt.Errorf("%s: mapping %q names no schema", where, k)
					}
				}
			}
		}
		for k, c := range x {
			if err := checkRefs(where+"/"+k, c, schemas); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range x {
			if err := checkRefs(fmt.Sprintf("%s/%d", where, i), c, schemas); err != nil {
				return err
			}
		}
	case []obj:
		for i, c := range x {
			if err := checkRefs(fmt.Sprintf("%s/%d", where, i), c, schemas); err != nil {
				return err
			}
		}
	}
	return nil
}

// operationID makes a stable camel-case id from a method and path, e.g.
// GET /backups/{id}/logs -> getBackupsIdLogs.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	upper := true
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			if upper && r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			upper = false
		default:
			upper = true
		}
	}
	return b.String()
}

func securitySchemes() obj {
	return obj{
		"bearerAuth":    obj{"type": "http", "scheme": "bearer", "description": "An API token from POST /tokens."},
		"sessionCookie": obj{"type": "apiKey", "in": "cookie", "name": sessionCookie, "description": "The session cookie set by POST /auth/login."},
	}
}

// fullEveryDoc describes a plan's full_every.
const fullEveryDoc = "When an incremental plan (options.mode incremental) runs a full backup: a whole number N " +
	"(\"7\", the default: after N incrementals) or a 5-field cron expression (\"0 3 * * 0\": at the first run after each of its times)."

// openapiSchemas are the JSON shapes of docs/api.md. Their names are the type
// names of the web UI (web/src/api/generated.ts is generated from them), so
// a field added or changed here reaches the UI's compiler.
func openapiSchemas() obj {
	progress := object("How far an operation has come.", []string{"items_done", "bytes_read", "bytes_written"}, obj{
		"items_done":    integer("Objects or documents done."),
		"items_total":   integer("Objects or documents in all, when known (an s3 backup: the bucket's objects at that point)."),
		"bytes_read":    integer("Bytes read from the source (restores: from the archive)."),
		"bytes_written": integer("Bytes written to the destination (backups: compressed)."),
		"phase":         str("What the run does now, in words (MongoDB backups: listing collections, measuring db.coll, copying db.coll, finishing)."),
		"phase_items":   integer("Items of the current phase done (documents measured or copied of the collection)."),
	})
	return obj{
		"ErrorBody": object("An error answer: what failed, and per field why.", []string{"error"}, obj{
			"error":  str("What failed and what to do, as a sentence."),
			"fields": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "Per field (or query parameter), why it was refused."},
		}),
		"User": object("A user as they see themselves.", []string{"id", "email", "role"}, obj{
			"id": integer(""), "email": str(""), "role": ref("UserRole"),
		}),
		"UserRole":     obj{"type": "string", "enum": []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleViewer}, "description": "What a user may do: viewers read, operators also change connections and run operations, admins also manage users."},
		"LoginRequest": closed("", []string{"email", "password"}, obj{"email": str(""), "password": obj{"type": "string", "format": "password"}}),
		"PasswordChange": closed("A user changing their own password.", []string{"current_password", "new_password"}, obj{
			"current_password": obj{"type": "string", "format": "password"},
			"new_password":     obj{"type": "string", "format": "password", "minLength": minPasswordLen},
		}),

		"AuthProviders": object("How users may sign in.", []string{"local", "oidc"}, obj{
			"local": boolean("Sign-in with e-mail and password is on (COFFER_LOCAL_LOGIN)."),
			"oidc": nullable(object("Single sign-on, or null when it is not set up.", []string{"name"}, obj{
				"name": str("The identity provider's name for the button (COFFER_OIDC_NAME)."),
			})),
		}),

		"ConnectionType": obj{"type": "string", "enum": registry.Names(), "description": "The kind of system a connection points at."},
		"ConnectionRole": obj{"type": "string", "enum": []registry.Role{registry.RoleSource, registry.RoleDestination, registry.RoleRestoreTarget},
			"description": "What a connection can be used for."},
		"S3Credentials": object("s3: source, destination and restore target.", []string{"access_key", "secret_key", "region", "bucket"}, obj{
			"access_key": str(""), "secret_key": str("Shown masked (****abcd); send the masked value back to keep it."),
			"region": str(""), "bucket": str(""), "prefix": str("Only keys under this prefix."),
			"endpoint":                str("An S3-compatible endpoint URL (default: AWS)."),
			"force_path_style":        boolean("Path-style addressing (most S3-compatible servers)."),
			"use_ambient_credentials": boolean("Use the server's own AWS credentials (env, shared config, instance role) instead of the keys."),
		}),
		"MongoDBCredentials": object("mongodb: source and restore target.", []string{"uri"}, obj{
			"uri":           str("A mongodb:// or mongodb+srv:// URI; its password is shown masked."),
			"database":      str("The database (none: every non-system database)."),
			"auth_database": str(""),
		}),
		"GoogleDriveCredentials": object("google_drive: destination. Tokens usually come from /oauth/google/start.", []string{"folder_id"}, obj{
			"access_token": str(""), "refresh_token": str(""), "folder_id": str("The Drive folder that holds the archives."),
			"service_account_json": str("A service account key (JSON) instead of OAuth tokens."),
			"expiry":               dateTime(false),
		}),
		"LocalCredentials": object("local: destination, a directory on the server inside COFFER_LOCAL_ROOTS.", []string{"path"}, obj{
			"path": str("An absolute directory path."),
		}),
		"Credentials": obj{"oneOf": []any{ref("S3Credentials"), ref("MongoDBCredentials"), ref("GoogleDriveCredentials"), ref("LocalCredentials")},
			"description": "The credentials of the connection's type."},
		"Connection": object("A connection, credentials masked.", []string{"id", "name", "type", "credentials", "is_active", "last_validated_at", "last_validation_error", "needs_reauth", "roles", "created_at", "updated_at"}, obj{
			"id": integer(""), "name": str(""), "type": ref("ConnectionType"), "credentials": ref("Credentials"),
			"is_active":             boolean(""),
			"last_validated_at":     dateTime(true),
			"last_validation_error": nullable(str("Why the last live check failed; null when it passed.")),
			"needs_reauth":          boolean("The Google account must be connected again."),
			"roles":                 arrayOf(ref("ConnectionRole")),
			"created_at":            dateTime(false), "updated_at": dateTime(false),
		}),
		"ConnectionList": itemsOf("Connection"),
		"ConnectionInput": closed("A new connection.", []string{"name", "type", "credentials"}, obj{
			"name": str(""), "type": ref("ConnectionType"), "credentials": ref("Credentials"),
			"save_unchecked": boolean("Save without the live check (a server down for maintenance); the connection shows as unchecked."),
		}),
		"ConnectionUpdate": closed("A change to a connection: only the fields sent change.", nil, obj{
			"name": str(""), "type": ref("ConnectionType"), "credentials": ref("Credentials"), "is_active": boolean(""),
			"save_unchecked": boolean("Save changed credentials without the live check."),
		}),
		"ConnectionTestResult": object("The outcome of a live check.", []string{"ok", "message", "free_bytes", "checked_at"}, obj{
			"ok": boolean(""), "message": str(""), "free_bytes": nullable(integer("Free space at a destination, when known.")),
			"checked_at": dateTime(false),
		}),

		"Progress":    progress,
		"Compression": obj{"type": "string", "enum": []string{"gzip", "zstd"}, "description": "How a backup archive is compressed."},
		"CompressionLevel": obj{"type": "string", "enum": []string{"fastest", "default", "best"},
			"description": "How hard the compressor works: fastest, the compressor's default, or the smallest archive."},
		"BackupMode": obj{"type": "string", "enum": []string{"full", "incremental"},
			"description": "full: the archive holds every object. incremental (s3 sources only): it holds the new and changed objects, and the unchanged ones point at the earlier archives of its chain."},
		"BackupOptions": closed("", nil, obj{
			"mode":              obj{"allOf": []any{ref("BackupMode")}, "default": "full", "description": "incremental only for an s3 source (else 422 with fields options.mode)."},
			"compression":       obj{"allOf": []any{ref("Compression")}, "default": "gzip"},
			"compression_level": obj{"allOf": []any{ref("CompressionLevel")}, "default": "default"},
			"bandwidth_limit":   obj{"type": "integer", "format": "int64", "minimum": 0, "description": "Bytes per second for the source reads and, separately, the destination writes (0 or absent: no limit; else at least 1024)."},
			"encryption_key_id": obj{"type": "integer", "format": "int64", "minimum": 0, "description": "Encrypt the archive with age for this key (0 or absent: not encrypted); the archive is named ….tar.gz.age or ….tar.zst.age."},
		}),
		"BackupInput": closed("A backup to start.", []string{"source_connection_id", "destination_connection_id"}, obj{
			"source_connection_id": integer(""), "destination_connection_id": integer(""), "options": ref("BackupOptions"),
		}),
		"BackupStatus": obj{"type": "string", "enum": backupStatuses, "description": "Where a backup is in its life."},
		"BackupOperation": object("A backup operation.", []string{"id", "status", "source_connection_id", "destination_connection_id", "options", "plan_id", "pruned_at", "prune_reason", "archive_path", "archive_size", "sha256", "progress", "error_message", "started_at", "completed_at", "created_at", "imported", "source", "last_verified_at", "last_verify_status", "mode", "base_backup_id", "changed_objects"}, obj{
			"imported":           boolean("A scan found the archive at its destination and rebuilt the backup from its manifest (source_connection_id is 0)."),
			"source":             obj{"allOf": []any{ref("ArchiveSource")}, "nullable": true, "description": "An imported backup's source, as its manifest names it; null otherwise."},
			"last_verified_at":   dateTime(true),
			"last_verify_status": obj{"type": "string", "enum": []string{store.VerifyPassed, store.VerifyFailed}, "nullable": true, "description": "How the last verification ended; null before the first."},
			"id":                 integer(""), "status": ref("BackupStatus"),
			"source_connection_id": integer(""), "destination_connection_id": integer(""),
			"plan_id":         nullable(integer("The plan that started it; null for an ad-hoc backup.")),
			"pruned_at":       dateTime(true),
			"prune_reason":    obj{"type": "string", "enum": []string{store.PruneRetention, store.PruneDeleted}, "nullable": true, "description": "Why the archive was removed; null while it is kept."},
			"options":         ref("BackupOptions"),
			"mode":            ref("BackupMode"),
			"base_backup_id":  nullable(integer("The backup an incremental is built on; null for a full one.")),
			"changed_objects": nullable(integer("How many objects' bytes the archive holds (an incremental: the new and changed ones); null until known.")),
			"archive_path":    str("Where the archive is at the destination."), "archive_size": integer("Bytes."),
			"sha256":        str("Of the whole archive, once completed."),
			"progress":      ref("Progress"),
			"error_message": str("Why it failed."),
			"started_at":    dateTime(true), "completed_at": dateTime(true), "created_at": dateTime(false),
		}),
		"BackupList": listOf("BackupOperation"),
		"ArchiveSource": object("What a backup copied, as its manifest names it.", []string{"type", "name"}, obj{
			"type": str("s3 or mongodb."), "name": str("The source connection's name."),
		}),
		"BackupEntry": object("One entry of a backup's archive.", []string{"path", "name", "size", "sha256"}, obj{
			"path": str("The object's key, or the entry's name for anything else; folders split it at /."),
			"name": str("The tar entry name."), "key": str("The S3 key of an object entry."),
			"size": integer("Bytes."), "sha256": str(""), "content_type": str("An object's Content-Type."),
			"documents": integer("A collection's document count."), "database": str(""), "collection": str(""),
		}),
		"BackupFolder": object("A folder below the prefix browsed.", []string{"prefix", "entries", "bytes"}, obj{
			"prefix": str("Browse it with this prefix."), "entries": integer("Entries in it, at any depth."), "bytes": integer(""),
		}),
		"BackupEntries": object("One page of a backup's entries.", []string{"items", "folders", "page", "per_page", "total"}, obj{
			"items": arrayOf(ref("BackupEntry")), "folders": arrayOf(ref("BackupFolder")),
			"page": integer(""), "per_page": integer(""), "total": integer("Entries matching (folders not counted)."),
		}),
		"VerificationStatus": obj{"type": "string", "enum": restoreStatuses, "description": "Where a verification is in its life: completed means the archive passed, failed that it did not or could not be read."},
		"VerifyProblem": object("One thing wrong with an archive.", []string{"message"}, obj{
			"entry": str("The entry concerned; absent for the archive as a whole."), "message": str(""),
		}),
		"VerifyResult": object("What a verification found.", []string{"entries_checked", "bytes_read", "entry_bytes", "documents", "contents_checked", "problems", "problem_count"}, obj{
			"entries_checked": integer(""), "bytes_read": integer("Stored bytes read."), "entry_bytes": integer("The entries' sizes, summed."),
			"documents":        integer("Documents of the collections checked."),
			"contents_checked": boolean("False for an encrypted archive verified without an identity: only its stored bytes' checksum was checked."),
			"sha256":           str("Of the stored archive, as read."),
			"problems":         arrayOf(ref("VerifyProblem")), "problem_count": integer("All problems (the list stops at 100)."),
		}),
		"Verification": object("A verification of a backup's archive.", []string{"id", "status", "backup_operation_id", "plan_id", "progress", "result", "error_message", "started_at", "completed_at", "created_at"}, obj{
			"id": integer(""), "status": ref("VerificationStatus"), "backup_operation_id": integer(""),
			"plan_id":       nullable(integer("The plan that asked for it; null when a user did.")),
			"progress":      ref("Progress"),
			"result":        obj{"allOf": []any{ref("VerifyResult")}, "nullable": true, "description": "Null until it ends."},
			"error_message": str("The result in a sentence when it failed."),
			"started_at":    dateTime(true), "completed_at": dateTime(true), "created_at": dateTime(false),
		}),
		"VerificationList": listOf("Verification"),
		"ScanProblem": object("An archive a scan found but did not import.", []string{"archive", "message"}, obj{
			"archive": str("Its name at the destination."), "message": str("Why."),
		}),
		"ScanResult": object("What a scan of a destination did.", []string{"found", "imported", "already_known", "backup_ids", "problems"}, obj{
			"found": integer("Archives found with their .sha256."), "imported": integer("Added as imported backups."),
			"already_known": integer("In the catalog already."), "backup_ids": arrayOf(integer("")),
			"problems": arrayOf(ref("ScanProblem")),
		}),

		"RetentionPolicy": closed("What a plan keeps (restic's forget rules); no rule keeps everything.", nil, obj{
			"keep_last": integer("The newest n backups."), "keep_hourly": integer("The newest backup of each of the last n hours that have one."),
			"keep_daily": integer("Likewise per day."), "keep_weekly": integer("Likewise per ISO week."),
			"keep_monthly": integer("Likewise per month."), "keep_yearly": integer("Likewise per year."),
			"keep_within": str("Every backup completed within this span of the newest one: \"7d\", \"1y6m\", \"36h\"."),
		}),
		"PlanInput": closed("A backup plan's settings.", []string{"name", "source_connection_id", "destination_connection_id", "schedule"}, obj{
			"name": str(""), "source_connection_id": integer(""), "destination_connection_id": integer(""),
			"options":     ref("BackupOptions"),
			"schedule":    str("A 5-field cron expression, @hourly, @daily, @weekly, @monthly or \"@every <duration>\"."),
			"timezone":    str("An IANA time zone (default UTC)."),
			"catch_up":    boolean("Run once at start after due times were missed while coffer was down (default true)."),
			"retention":   ref("RetentionPolicy"),
			"alert_after": str("A duration such as \"26h\": the plan is overdue when no run succeeded for this long."),
			"verify":      str("\"none\" (default), \"after_each\" or a schedule."),
			"full_every":  str(fullEveryDoc),
			"enabled":     boolean("Default true."),
		}),
		"PlanRun": object("The last backup a plan started.", []string{"backup_id", "status", "at"}, obj{
			"backup_id": integer(""), "status": ref("BackupStatus"), "at": dateTime(false),
		}),
		"Plan": object("A backup plan.", []string{"id", "name", "source_connection_id", "destination_connection_id", "options", "schedule", "schedule_text", "timezone", "catch_up", "retention", "alert_after", "verify", "full_every", "enabled", "next_run_at", "next_verify_at", "last_run", "last_success_at", "overdue", "created_at", "updated_at"}, obj{
			"id": integer(""), "name": str(""), "source_connection_id": integer(""), "destination_connection_id": integer(""),
			"options": ref("BackupOptions"), "schedule": str(""), "schedule_text": str("The schedule in words."),
			"timezone": str(""), "catch_up": boolean(""), "retention": ref("RetentionPolicy"),
			"alert_after": nullable(str("")), "verify": str(""), "full_every": str(fullEveryDoc), "enabled": boolean(""),
			"next_run_at": dateTime(true), "next_verify_at": dateTime(true), "last_run": obj{"allOf": []any{ref("PlanRun")}, "nullable": true},
			"last_success_at": dateTime(true), "overdue": boolean("alert_after is set and no run succeeded within it."),
			"created_at": dateTime(false), "updated_at": dateTime(false),
		}),
		"PlanList": object("Every plan, by name.", []string{"items"}, obj{"items": arrayOf(ref("Plan"))}),
		"PlanEvent": object("One line of a plan's history.", []string{"id", "kind", "due_at", "backup_id", "message", "created_at"}, obj{
			"id": integer(""), "kind": enum(store.PlanEventRun, store.PlanEventSkipped, store.PlanEventMissed, store.PlanEventPruned, store.PlanEventPruneFailed),
			"due_at": dateTime(true), "backup_id": nullable(integer("")), "message": str(""), "created_at": dateTime(false),
		}),
		"PlanEventList": listOf("PlanEvent"),
		"RetentionDecision": object("What the policy does with one backup.", []string{"backup_id", "completed_at", "keep", "reasons"}, obj{
			"backup_id": integer(""), "completed_at": dateTime(false), "keep": boolean(""),
			"reasons": arrayOf(str("Why it stays: \"last\", \"daily\", \"within 7d\", \"newest\"..., or \"base of #N\" when kept backup N is built on it.")),
		}),
		"RetentionPreview": object("The dry run, newest first.", []string{"items"}, obj{"items": arrayOf(ref("RetentionDecision"))}),
		"PruneResult": object("What a prune did.", []string{"pruned", "failed", "kept"}, obj{
			"pruned": integer("Archives deleted."), "failed": integer("Deletes that failed (tried again at the next prune)."), "kept": integer("Backups the policy keeps."),
		}),
		"SchedulePreview": object("The next due times.", []string{"times"}, obj{"times": arrayOf(dateTime(false))}),

		"NotificationEvent": enum(notify.Events()...),
		"EmailChannelConfig": closed("An e-mail channel: SMTP.", []string{"host", "port", "from", "to"}, obj{
			"host": str("The SMTP server."), "port": integer("1-65535 (587 for STARTTLS, 465 for TLS)."),
			"username": str("Log in with AUTH PLAIN when set."), "password": str("Secret: masked in answers; send the mask back to keep it."),
			"from": str("Sender address."), "to": arrayOf(str("Recipient address.")),
			"security":             enum(notify.SecurityStartTLS, notify.SecurityTLS, notify.SecurityNone),
			"insecure_skip_verify": boolean("Accept a server certificate that does not verify (default false)."),
		}),
		"WebhookChannelConfig": closed("A webhook channel: the event as JSON, POSTed.", []string{"url"}, obj{
			"url":     str("http(s) URL; secret parts masked in answers."),
			"headers": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "Extra request headers; values are secret."},
			"secret":  str("Signs every request (X-Coffer-Timestamp, X-Coffer-Signature); masked in answers."),
		}),
		"ShoutrrrChannelConfig": closed("A chat service through a shoutrrr URL (slack://, discord://, telegram://, ntfy://, generic://...).", []string{"url"}, obj{
			"url": str("The service URL; tokens inside it are masked in answers."),
		}),
		"ChannelConfig": obj{"oneOf": []any{ref("EmailChannelConfig"), ref("WebhookChannelConfig"), ref("ShoutrrrChannelConfig")}},
		"ChannelInput": closed("A notification channel's settings (a PUT replaces them; the type cannot change).", []string{"name", "type", "config"}, obj{
			"name": str(""), "type": enum(notify.Types()...), "config": ref("ChannelConfig"),
			"events":   obj{"type": "array", "items": ref("NotificationEvent"), "description": "Default: failures, overdue and recovered plans, connections needing a reconnect, insufficient storage."},
			"plan_ids": arrayOf(integer("Only events of these plans; empty: every plan, and events of no plan.")),
			"enabled":  boolean("Default true."),
		}),
		"Channel": object("A notification channel; secrets masked.", []string{"id", "name", "type", "config", "events", "plan_ids", "enabled", "created_at", "updated_at"}, obj{
			"id": integer(""), "name": str(""), "type": enum(notify.Types()...), "config": ref("ChannelConfig"),
			"events": arrayOf(ref("NotificationEvent")), "plan_ids": arrayOf(integer("")), "enabled": boolean(""),
			"created_at": dateTime(false), "updated_at": dateTime(false),
		}),
		"ChannelList": object("Every channel, by name.", []string{"items"}, obj{"items": arrayOf(ref("Channel"))}),
		"ChannelTestResult": object("A delivered test message.", []string{"ok", "reply"}, obj{
			"ok": boolean(""), "reply": str("The receiver's answer: the SMTP server's reply, the webhook's status line, or the service a chat message went to."),
		}),
		"Delivery": object("One event sent to one channel.", []string{"id", "channel_id", "event", "status", "attempts", "last_error", "reply", "payload", "created_at", "sent_at"}, obj{
			"id": integer(""), "channel_id": integer(""), "event": str(""),
			"status":     enum(store.DeliveryPending, store.DeliverySent, store.DeliveryFailed),
			"attempts":   integer("Attempts made so far (at most 5)."),
			"last_error": str("Why the last attempt failed."), "reply": str("The receiver's answer to the attempt that went through."),
			"payload":    obj{"type": "object", "additionalProperties": true, "description": "The event as sent (the webhook body)."},
			"created_at": dateTime(false), "sent_at": dateTime(true),
		}),
		"DeliveryList": listOf("Delivery"),

		"EncryptionKeyInput": closed("An age key to add: generate: true (coffer makes the pair), a pasted recipient, or a passphrase.", []string{"name", "type"}, obj{
			"name": str(""), "type": enum(store.KeyX25519, store.KeyPassphrase),
			"generate":      boolean("x25519: coffer generates the pair and answers with the identity, once."),
			"recipient":     str("x25519: an age1… recipient made with age-keygen."),
			"keep_identity": boolean("x25519 generated: coffer keeps the identity sealed, so restores need nothing more. Default false: restores must be given it."),
			"passphrase":    str("passphrase: at least 12 characters; kept sealed."),
		}),
		"EncryptionKey": object("An age key archives can be encrypted to.", []string{"id", "name", "type", "keeps_identity", "created_at"}, obj{
			"id": integer(""), "name": str(""), "type": enum(store.KeyX25519, store.KeyPassphrase),
			"recipient":      str("x25519: the age1… recipient."),
			"keeps_identity": boolean("Whether a restore needs nothing more than the backup (a passphrase key always does)."),
			"created_at":     dateTime(false),
			"identity":       str("Only in the answer to a POST with generate: true: the identity to keep offline. Never shown again."),
		}),
		"EncryptionKeyList": object("Every key, by name.", []string{"items"}, obj{"items": arrayOf(ref("EncryptionKey"))}),

		"S3RestoreConfig": closed("Restore into an s3 connection.", nil, obj{
			"bucket": str("Default: the connection's bucket."), "prefix": str("Put keys under this prefix."),
			"include_prefix": str("Restore only keys under this prefix."), "overwrite": obj{"type": "boolean", "default": false},
			"keys": arrayOf(str("Restore only these keys (each must be in the backup; at most 10000); the restore stops reading the archive after the last.")),
		}),
		"MongoDBRestoreConfig": closed("Restore into a mongodb connection.", nil, obj{
			"database": str("Default: the backed-up database's name."), "collections": arrayOf(str("")),
			"drop": obj{"type": "boolean", "default": false, "description": "Drop each collection before restoring it."},
		}),
		// anyOf, not oneOf: every field of both is optional, so {} fits both.
		"RestoreConfig": obj{"anyOf": []any{ref("S3RestoreConfig"), ref("MongoDBRestoreConfig")}, "description": "The restore settings of the target's type."},
		"RestoreInput": closed("A restore to start.", []string{"backup_operation_id", "destination_connection_id"}, obj{
			"backup_operation_id": integer(""), "destination_connection_id": integer(""), "config": ref("RestoreConfig"),
			"identity":   str("For an encrypted backup whose key coffer does not keep: the age identity (AGE-SECRET-KEY-1…). Kept sealed until the restore ends; never logged."),
			"passphrase": str("For an encrypted backup: its key's passphrase, instead of the one coffer keeps. Kept sealed until the restore ends; never logged."),
		}),
		"RestoreStatus": obj{"type": "string", "enum": restoreStatuses, "description": "Where a restore is in its life (a restore cannot be paused)."},
		"RestoreOperation": object("A restore operation.", []string{"id", "status", "backup_operation_id", "destination_connection_id", "destination_config", "progress", "error_message", "started_at", "completed_at", "created_at"}, obj{
			"id": integer(""), "status": ref("RestoreStatus"),
			"backup_operation_id": integer(""), "destination_connection_id": integer(""),
			"destination_config": ref("RestoreConfig"),
			"progress":           ref("Progress"), "error_message": str("Why it failed."),
			"started_at": dateTime(true), "completed_at": dateTime(true), "created_at": dateTime(false),
		}),
		"RestoreList": listOf("RestoreOperation"),

		"LogLevel": enum(store.LevelInfo, store.LevelWarning, store.LevelError),
		"LogEntry": object("One line of an operation's log.", []string{"id", "level", "message", "context", "created_at"}, obj{
			"id": integer(""), "level": ref("LogLevel"), "message": str(""),
			"context": anyJSON("Structured details of the line."), "created_at": dateTime(false),
		}),
		"LogPage": object("Log lines, oldest first.", []string{"items", "next_after"}, obj{
			"items": arrayOf(ref("LogEntry")), "next_after": integer("Pass as ?after= to get the next lines."),
		}),

		"DashboardBackup": obj{"description": "A backup on the dashboard.", "allOf": []any{
			ref("BackupOperation"),
			object("", []string{"kind"}, obj{"kind": enum(store.KindBackup)}),
		}},
		"DashboardRestore": obj{"description": "A restore on the dashboard.", "allOf": []any{
			ref("RestoreOperation"),
			object("", []string{"kind"}, obj{"kind": enum(store.KindRestore)}),
		}},
		"DashboardOperation": obj{"description": "A backup or restore, with kind saying which.",
			"oneOf": []any{ref("DashboardBackup"), ref("DashboardRestore")},
			"discriminator": obj{"propertyName": "kind", "mapping": obj{
				store.KindBackup:  "#/components/schemas/DashboardBackup",
				store.KindRestore: "#/components/schemas/DashboardRestore",
			}},
		},
		"DashboardConnections": object("Connection health: by the last live check.", []string{"healthy", "failing", "unchecked", "items"}, obj{
			"healthy": integer(""), "failing": integer(""), "unchecked": integer(""), "items": arrayOf(ref("Connection")),
		}),
		"Dashboard": object("", []string{"backups_by_status", "restores_by_status", "running", "recent_failures", "connections"}, obj{
			"backups_by_status":  countsOf("Backups in each status.", backupStatuses),
			"restores_by_status": countsOf("Restores in each status.", restoreStatuses),
			"running":            arrayOf(ref("DashboardOperation")),
			"recent_failures":    arrayOf(ref("DashboardOperation")),
			"connections":        ref("DashboardConnections"),
		}),

		"TokenRequest": closed("", []string{"name"}, obj{"name": obj{"type": "string", "maxLength": maxTokenName}}),
		"Token": object("An API token, without its value.", []string{"id", "name", "created_at", "last_used_at"}, obj{
			"id": integer(""), "name": str(""), "created_at": dateTime(false), "last_used_at": dateTime(true),
		}),
		"NewToken": object("", []string{"id", "name", "token"}, obj{
			"id": integer(""), "name": str(""), "token": str("The token; it is not shown again."),
		}),
		"TokenList": itemsOf("Token"),

		"AdminUser": object("A user as administrators see them.", []string{"id", "email", "role", "disabled", "created_at", "updated_at"}, obj{
			"id": integer(""), "email": str(""), "role": ref("UserRole"), "disabled": boolean(""),
			"created_at": dateTime(false), "updated_at": dateTime(false),
		}),
		"UserList": itemsOf("AdminUser"),
		"UserInput": closed("A new user.", []string{"email", "role", "password"}, obj{
			"email": str(""), "role": ref("UserRole"), "password": obj{"type": "string", "format": "password", "minLength": minPasswordLen},
		}),
		"UserUpdate": closed("A change to a user: only the fields sent change.", nil, obj{"role": ref("UserRole"), "disabled": boolean("")}),
		"PasswordRequest": closed("", []string{"password"}, obj{
			"password": obj{"type": "string", "format": "password", "minLength": minPasswordLen},
		}),

		"AuditEvent": object("Who did what; never secrets.", []string{"id", "actor_id", "actor_email", "action", "target_type", "target_id", "ip", "details", "created_at"}, obj{
			"id": integer(""), "actor_id": nullable(integer("The acting user; null for events without one (e.g. a failed login for an unknown email).")),
			"actor_email": str(""),
			"action":      str("e.g. connection.create, backup.pause, auth.login_failed"), "target_type": str(""), "target_id": str(""),
			"ip": str(""), "details": anyJSON(""), "created_at": dateTime(false),
		}),
		"AuditList": listOf("AuditEvent"),

		"HealthState": enum("ok", "unavailable"),
		"Health": object("", []string{"status", "database", "queue"}, obj{
			"status": ref("HealthState"), "database": ref("HealthState"), "queue": ref("HealthState"),
			"error": str(""),
		}),
	}
}

// serveOpenAPI answers GET /openapi.json with the document mux built.
func (s *server) serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.openapi)
	return nil
}
