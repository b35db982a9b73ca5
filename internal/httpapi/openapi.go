package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/version"
)

// openapiPath is where the OpenAPI document is served, under apiPrefix. It
// needs no login: it describes the API, it holds nothing of the installation.
const openapiPath = "/openapi.json"

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

// apiOp is one operation of the OpenAPI document. The list of them
// (openapiOps) must match the route table exactly; TestOpenAPIMatchesRoutes
// checks it.
type apiOp struct {
	method, path string
	access       access
	tag, summary string
	params       []any  // parameters besides {id}, which is added from the path
	body         string // request body schema name, "" for none
	responses    obj    // status -> response object
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

func enum(values ...string) obj { return obj{"type": "string", "enum": values} }

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

// listOf is the paged list shape of DESIGN §5.
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

func jsonResponse(desc, schema string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

func errResponse(desc string) obj { return jsonResponse(desc, "Error") }

func noContent(desc string) obj { return obj{"description": desc} }

func query(name, desc string, schema obj) obj {
	return obj{"name": name, "in": "query", "required": false, "description": desc, "schema": schema}
}

// pageParams are page and per_page.
func pageParams() []any {
	return []any{
		query("page", "Page number, from 1.", obj{"type": "integer", "minimum": 1, "default": 1}),
		query("per_page", "Items per page.", obj{"type": "integer", "minimum": 1, "maximum": maxPerPage, "default": defaultPerPage}),
	}
}

func logParams() []any {
	return []any{
		query("after", "Return only lines with an id greater than this.", obj{"type": "integer", "minimum": 0, "default": 0}),
		query("limit", "Most lines to return.", obj{"type": "integer", "minimum": 1, "maximum": maxLogLimit, "default": defaultLogLimit}),
	}
}

func sseResponse(desc string) obj {
	return obj{"description": desc, "content": obj{"text/event-stream": obj{"schema": obj{"type": "string",
		"description": "Server-sent events: `event: log` with a LogLine as data and the log id as the event id, " +
			"`: heartbeat` comments, and a final `event: end` with data {\"status\": \"<final status>\"}. " +
			"Reconnect with Last-Event-ID (or ?after=) to continue."}}}}
}

// withErrors adds the error answers every route can give after authentication.
func withErrors(a access, r obj) obj {
	if a != public {
		r["401"] = errResponse("Not signed in, or the API token is not valid.")
		if a != reader {
			r["403"] = errResponse("Your role may not do this.")
		}
	}
	return r
}

// openapiOps lists every /api/v1 operation, in the route table's order.
func openapiOps() []apiOp {
	idNotFound := errResponse("There is nothing with this id.")
	invalid := errResponse("The body or a query parameter is invalid; `fields` names each problem.")
	badBody := errResponse("The body is not JSON, has unknown fields or wrong types, or is not application/json (415) or too large (413).")
	conflict := errResponse("The operation is not in a state that allows this.")
	tooMany := errResponse("Too many requests; the Retry-After header says how many seconds to wait.")
	return []apiOp{
		{"POST", "/auth/login", public, "auth", "Sign in; sets the session cookie.", nil, "LoginRequest", obj{
			"200": jsonResponse("Signed in; the session cookie is set.", "User"),
			"400": badBody, "401": errResponse("The email or password is incorrect."),
			"403": errResponse("The account is disabled, or password sign-in is turned off (COFFER_LOCAL_LOGIN=false) outside a break-glass window."),
			"422": invalid, "429": tooMany}},
		{"POST", "/auth/logout", reader, "auth", "Sign out: end the session and clear its cookie.", nil, "", obj{
			"204": noContent("Signed out.")}},
		{"GET", "/auth/me", reader, "auth", "The signed-in user.", nil, "", obj{
			"200": jsonResponse("The user.", "User")}},
		{"POST", "/auth/password", reader, "auth", "Change your own password (other sessions end).", nil, "ChangePasswordRequest", obj{
			"204": noContent("Changed."), "400": badBody, "422": invalid}},
		{"GET", "/auth/providers", public, "auth", "How users may sign in: with a password (local) and/or single sign-on (oidc).", nil, "", obj{
			"200": jsonResponse("The sign-in methods.", "Providers")}},
		{"GET", "/auth/oidc/start", public, "auth", "Start single sign-on: redirects the browser to the identity provider.",
			[]any{query("next", "The UI path to return to after signing in (default /).", str(""))}, "", obj{
				"302": noContent("Redirect to the identity provider; a short-lived cookie binds the sign-in to this browser."),
				"404": errResponse("Single sign-on is not set up on this server."), "429": tooMany,
				"503": errResponse("The identity provider cannot be reached (a small HTML page for browsers that ask for text/html)."),
			}},
		{"GET", "/auth/oidc/callback", public, "auth", "Where the identity provider sends the browser back; signs in and redirects to the UI.",
			[]any{
				query("state", "The state issued by /auth/oidc/start.", str("")),
				query("code", "The authorization code.", str("")),
				query("error", "The provider's error code when it did not sign the user in.", str("")),
			}, "", obj{
				"302": noContent("To the UI: the page to return to with the session cookie set (as POST /auth/login sets it), " +
					"/no-access when no group maps to a role, or /login?sso_error=<reason> (state, denied, provider_error, unreachable, " +
					"exchange_refused, token_invalid, email_missing, email_unverified, email_taken, disabled, internal)."),
				"404": errResponse("Single sign-on is not set up on this server."),
			}},

		{"GET", "/connections", reader, "connections", "List connections, credentials masked.", nil, "", obj{
			"200": jsonResponse("The connections, by name.", "ConnectionList")}},
		{"POST", "/connections", operator, "connections", "Create a connection (validated first).", nil, "ConnectionCreate", obj{
			"201": jsonResponse("Created.", "Connection"), "400": badBody,
			"409": errResponse("Another connection has this name."), "422": invalid}},
		{"GET", "/connections/{id}", reader, "connections", "One connection, credentials masked.", nil, "", obj{
			"200": jsonResponse("The connection.", "Connection"), "404": idNotFound}},
		{"PUT", "/connections/{id}", operator, "connections", "Change a connection; masked values sent back unchanged keep the stored secrets.", nil, "ConnectionUpdate", obj{
			"200": jsonResponse("Changed.", "Connection"), "400": badBody, "404": idNotFound,
			"409": errResponse("Another connection has this name."), "422": invalid}},
		{"DELETE", "/connections/{id}", operator, "connections", "Delete a connection.", nil, "", obj{
			"204": noContent("Deleted."), "404": idNotFound,
			"409": errResponse("A pending, running or paused operation uses the connection.")}},
		{"POST", "/connections/{id}/test", operator, "connections", "Check a connection live (reach it, list, free space).", nil, "", obj{
			"200": jsonResponse("The outcome of the check (ok or not).", "ConnectionCheck"), "404": idNotFound}},

		{"GET", "/oauth/google/start", operator, "oauth", "Start connecting a Google account to a google_drive connection; redirects to Google's consent page.",
			[]any{
				query("connection_id", "An existing google_drive connection to authorise again.", obj{"type": "integer", "minimum": 1}),
				query("name", "The name of a new connection (without connection_id).", str("")),
				query("folder_id", "The Drive folder of a new connection (without connection_id).", str("")),
			}, "", obj{
				"302": noContent("Redirect to Google's consent page."), "400": errResponse("connection_id is not an id."),
				"404": idNotFound, "422": invalid, "503": errResponse("Google Drive is not configured on this server (COFFER_GDRIVE_CLIENT_ID/SECRET).")}},
		{"GET", "/oauth/google/callback", operator, "oauth", "Where Google sends the browser back; stores the tokens and redirects to the connection in the UI.",
			[]any{
				query("state", "The state issued by /oauth/google/start.", str("")),
				query("code", "The authorisation code from Google.", str("")),
				query("error", "Google's error code when access was not granted.", str("")),
			}, "", obj{
				"302": noContent("Redirect to the web UI (with connected=1 or oauth_error=<message>)."),
				"400": errResponse("The state is missing, altered, expired, reused or from another session.")}},

		{"GET", "/backups", reader, "backups", "List backups, newest first.",
			append([]any{
				query("status", "Only backups in this status.", enum(backupStatuses...)),
				query("source_id", "Only backups of this source connection.", obj{"type": "integer", "minimum": 0}),
				query("destination_id", "Only backups to this destination connection.", obj{"type": "integer", "minimum": 0}),
			}, pageParams()...), "", obj{
				"200": jsonResponse("One page of backups.", "BackupList"), "422": invalid}},
		{"POST", "/backups", operator, "backups", "Start a backup; it runs in the background.", nil, "BackupRequest", obj{
			"202": obj{"description": "Queued; Location is the backup's URL.", "headers": obj{"Location": obj{"schema": str("")}},
				"content": obj{"application/json": obj{"schema": ref("Backup")}}},
			"400": badBody, "404": idNotFound, "422": invalid, "429": tooMany}},
		{"GET", "/backups/{id}", reader, "backups", "One backup.", nil, "", obj{
			"200": jsonResponse("The backup.", "Backup"), "404": idNotFound}},
		{"POST", "/backups/{id}/pause", operator, "backups", "Ask a pending or running backup to pause at its next checkpoint.", nil, "", obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "Backup"), "404": idNotFound, "409": conflict}},
		{"POST", "/backups/{id}/resume", operator, "backups", "Resume a paused backup from its checkpoint.", nil, "", obj{
			"200": jsonResponse("Queued again.", "Backup"), "404": idNotFound, "409": conflict}},
		{"POST", "/backups/{id}/cancel", operator, "backups", "Cancel a backup and remove its partial archive.", nil, "", obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "Backup"), "404": idNotFound, "409": conflict}},
		{"GET", "/backups/{id}/logs", reader, "backups", "A page of a backup's log lines, oldest first.", logParams(), "", obj{
			"200": jsonResponse("Log lines.", "LogPage"), "404": idNotFound, "422": invalid}},
		{"GET", "/backups/{id}/logs/stream", reader, "backups", "A backup's log lines as server-sent events, until it is final.",
			[]any{query("after", "Start after this log id (Last-Event-ID takes precedence).", obj{"type": "integer", "minimum": 0})}, "", obj{
				"200": sseResponse("The event stream."), "400": errResponse("Last-Event-ID is not a log id."), "404": idNotFound, "422": invalid}},

		{"GET", "/restores", reader, "restores", "List restores, newest first.",
			append([]any{
				query("status", "Only restores in this status.", enum(restoreStatuses...)),
				query("backup_operation_id", "Only restores of this backup.", obj{"type": "integer", "minimum": 0}),
				query("destination_id", "Only restores into this connection.", obj{"type": "integer", "minimum": 0}),
			}, pageParams()...), "", obj{
				"200": jsonResponse("One page of restores.", "RestoreList"), "422": invalid}},
		{"POST", "/restores", operator, "restores", "Start a restore of a completed backup; it runs in the background.", nil, "RestoreRequest", obj{
			"202": obj{"description": "Queued; Location is the restore's URL.", "headers": obj{"Location": obj{"schema": str("")}},
				"content": obj{"application/json": obj{"schema": ref("Restore")}}},
			"400": badBody, "404": idNotFound, "409": conflict, "422": invalid, "429": tooMany}},
		{"GET", "/restores/{id}", reader, "restores", "One restore.", nil, "", obj{
			"200": jsonResponse("The restore.", "Restore"), "404": idNotFound}},
		{"POST", "/restores/{id}/cancel", operator, "restores", "Cancel a restore.", nil, "", obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "Restore"), "404": idNotFound, "409": conflict}},
		{"GET", "/restores/{id}/logs", reader, "restores", "A page of a restore's log lines, oldest first.", logParams(), "", obj{
			"200": jsonResponse("Log lines.", "LogPage"), "404": idNotFound, "422": invalid}},
		{"GET", "/restores/{id}/logs/stream", reader, "restores", "A restore's log lines as server-sent events, until it is final.",
			[]any{query("after", "Start after this log id (Last-Event-ID takes precedence).", obj{"type": "integer", "minimum": 0})}, "", obj{
				"200": sseResponse("The event stream."), "400": errResponse("Last-Event-ID is not a log id."), "404": idNotFound, "422": invalid}},

		{"GET", "/dashboard", reader, "dashboard", "Counts by status, running operations, recent failures and connection health.", nil, "", obj{
			"200": jsonResponse("The dashboard.", "Dashboard")}},

		{"GET", "/tokens", reader, "tokens", "Your API tokens (never the token values).", nil, "", obj{
			"200": jsonResponse("The tokens.", "TokenList")}},
		{"POST", "/tokens", reader, "tokens", "Create an API token; its value is shown only in this answer.", nil, "TokenRequest", obj{
			"201": jsonResponse("Created.", "NewToken"), "400": badBody, "422": invalid}},
		{"DELETE", "/tokens/{id}", reader, "tokens", "Delete one of your API tokens.", nil, "", obj{
			"204": noContent("Deleted."), "404": idNotFound}},

		{"GET", "/users", admin, "users", "List users.", nil, "", obj{
			"200": jsonResponse("The users.", "UserList")}},
		{"POST", "/users", admin, "users", "Create a user.", nil, "UserCreate", obj{
			"201": jsonResponse("Created.", "UserAdmin"), "400": badBody,
			"409": errResponse("A user has this email."), "422": invalid}},
		{"PUT", "/users/{id}", admin, "users", "Change a user's role or disable them (the last active admin cannot be demoted or disabled).", nil, "UserUpdate", obj{
			"200": jsonResponse("Changed.", "UserAdmin"), "400": badBody, "404": idNotFound,
			"409": errResponse("The change would leave no active administrator."), "422": invalid}},
		{"POST", "/users/{id}/password", admin, "users", "Set a user's password (their sessions end).", nil, "PasswordRequest", obj{
			"204": noContent("Set."), "400": badBody, "404": idNotFound, "422": invalid}},

		{"GET", "/audit", admin, "audit", "Audit events, newest first.",
			append([]any{
				query("actor_id", "Only events of this user.", obj{"type": "integer", "minimum": 0}),
				query("action", "Only this action, e.g. connection.create.", str("")),
				query("target_type", "Only events on this kind of target, e.g. connection.", str("")),
				query("since", "Only events at or after this time (RFC 3339).", obj{"type": "string", "format": "date-time"}),
			}, pageParams()...), "", obj{
				"200": jsonResponse("One page of events.", "AuditList"), "422": invalid}},

		{"GET", "/healthz", public, "health", "Whether the database and the job queue work.", nil, "", obj{
			"200": jsonResponse("Healthy.", "Health"), "503": jsonResponse("Not healthy; the causes are in the server log.", "Health")}},
	}
}

// openapiSelfOp is the operation serving the document itself (registered
// beside the route table, since it needs no login and no role).
func openapiSelfOp() apiOp {
	return apiOp{"GET", openapiPath, public, "meta", "This OpenAPI document.", nil, "", obj{
		"200": obj{"description": "The OpenAPI 3 document of /api/v1.", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}}
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

// openapiDocument builds the OpenAPI 3.0.3 document of /api/v1.
func openapiDocument() obj {
	paths := obj{}
	tags := []any{}
	seenTag := map[string]bool{}
	for _, op := range append(openapiOps(), openapiSelfOp()) {
		item, _ := paths[op.path].(obj)
		if item == nil {
			item = obj{}
			paths[op.path] = item
		}
		params := []any{}
		if strings.Contains(op.path, "{id}") {
			params = append(params, obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "integer", "format": "int64", "minimum": 1}})
		}
		params = append(params, op.params...)
		o := obj{
			"operationId":   operationID(op.method, op.path),
			"summary":       op.summary,
			"tags":          []string{op.tag},
			"responses":     withErrors(op.access, op.responses),
			"x-coffer-role": roleName(op.access),
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.access == public {
			o["security"] = []any{}
		}
		if op.body != "" {
			o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(op.body)}}}
		}
		item[strings.ToLower(op.method)] = o
		if !seenTag[op.tag] {
			seenTag[op.tag] = true
			tags = append(tags, obj{"name": op.tag})
		}
	}
	return obj{
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
		"components": obj{"securitySchemes": securitySchemes(), "schemas": openapiSchemas()},
	}
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

// openapiSchemas are the JSON shapes of DESIGN §5.
func openapiSchemas() obj {
	progress := object("How far an operation has come.", []string{"items_done", "bytes_read", "bytes_written"}, obj{
		"items_done":    integer("Objects or documents done."),
		"items_total":   integer("Objects or documents in all, when known."),
		"bytes_read":    integer("Bytes read from the source (restores: from the archive)."),
		"bytes_written": integer("Bytes written to the destination (backups: compressed)."),
	})
	return obj{
		"Error": obj{"type": "object", "required": []string{"error"}, "properties": obj{
			"error":  str("What failed and what to do, as a sentence."),
			"fields": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "Per field (or query parameter), why it was refused."},
		}},
		"User": object("A user as they see themselves.", []string{"id", "email", "role"}, obj{
			"id": integer(""), "email": str(""), "role": ref("Role"),
		}),
		"Role":         enum(string(store.RoleAdmin), string(store.RoleOperator), string(store.RoleViewer)),
		"LoginRequest": closed("", []string{"email", "password"}, obj{"email": str(""), "password": obj{"type": "string", "format": "password"}}),
		"ChangePasswordRequest": closed("", []string{"current_password", "new_password"}, obj{
			"current_password": obj{"type": "string", "format": "password"},
			"new_password":     obj{"type": "string", "format": "password", "minLength": minPasswordLen},
		}),

		"Providers": object("How users may sign in.", []string{"local", "oidc"}, obj{
			"local": boolean("Sign-in with e-mail and password is on (COFFER_LOCAL_LOGIN)."),
			"oidc": nullable(object("Single sign-on, or null when it is not set up.", []string{"name"}, obj{
				"name": str("The identity provider's name for the button (COFFER_OIDC_NAME)."),
			})),
		}),

		"ConnectionType": enum("s3", "mongodb", "google_drive", "local"),
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
		"Connection": object("A connection, credentials masked.", []string{"id", "name", "type", "credentials", "is_active", "roles", "created_at", "updated_at"}, obj{
			"id": integer(""), "name": str(""), "type": ref("ConnectionType"), "credentials": ref("Credentials"),
			"is_active":             boolean(""),
			"last_validated_at":     dateTime(true),
			"last_validation_error": nullable(str("Why the last live check failed; null when it passed.")),
			"needs_reauth":          boolean("The Google account must be connected again."),
			"roles":                 arrayOf(enum("source", "destination", "restore_target")),
			"created_at":            dateTime(false), "updated_at": dateTime(false),
		}),
		"ConnectionList": itemsOf("Connection"),
		"ConnectionCreate": closed("", []string{"name", "type", "credentials"}, obj{
			"name": str(""), "type": ref("ConnectionType"), "credentials": ref("Credentials"),
		}),
		"ConnectionUpdate": closed("Only the fields sent change.", nil, obj{
			"name": str(""), "type": ref("ConnectionType"), "credentials": ref("Credentials"), "is_active": boolean(""),
		}),
		"ConnectionCheck": object("The outcome of a live check.", []string{"ok", "message", "checked_at"}, obj{
			"ok": boolean(""), "message": str(""), "free_bytes": nullable(integer("Free space at a destination, when known.")),
			"checked_at": dateTime(false),
		}),

		"Progress":      progress,
		"BackupOptions": closed("", nil, obj{"compression": obj{"type": "string", "enum": []string{"gzip", "zstd"}, "default": "gzip"}}),
		"BackupRequest": closed("", []string{"source_connection_id", "destination_connection_id"}, obj{
			"source_connection_id": integer(""), "destination_connection_id": integer(""), "options": ref("BackupOptions"),
		}),
		"Backup": object("A backup operation.", []string{"id", "status", "source_connection_id", "destination_connection_id", "options", "progress", "created_at"}, obj{
			"id": integer(""), "status": enum(backupStatuses...),
			"source_connection_id": integer(""), "destination_connection_id": integer(""),
			"options":      ref("BackupOptions"),
			"archive_path": str("Where the archive is at the destination."), "archive_size": integer("Bytes."),
			"sha256":        str("Of the whole archive, once completed."),
			"progress":      ref("Progress"),
			"error_message": str("Why it failed."),
			"started_at":    dateTime(true), "completed_at": dateTime(true), "created_at": dateTime(false),
		}),
		"BackupList": listOf("Backup"),

		"S3RestoreConfig": closed("Restore into an s3 connection.", nil, obj{
			"bucket": str("Default: the connection's bucket."), "prefix": str("Put keys under this prefix."),
			"include_prefix": str("Restore only keys under this prefix."), "overwrite": obj{"type": "boolean", "default": false},
		}),
		"MongoDBRestoreConfig": closed("Restore into a mongodb connection.", nil, obj{
			"database": str("Default: the backed-up database's name."), "collections": arrayOf(str("")),
			"drop": obj{"type": "boolean", "default": false, "description": "Drop each collection before restoring it."},
		}),
		"RestoreConfig": obj{"oneOf": []any{ref("S3RestoreConfig"), ref("MongoDBRestoreConfig")}},
		"RestoreRequest": closed("", []string{"backup_operation_id", "destination_connection_id"}, obj{
			"backup_operation_id": integer(""), "destination_connection_id": integer(""), "config": ref("RestoreConfig"),
		}),
		"Restore": object("A restore operation.", []string{"id", "status", "backup_operation_id", "destination_connection_id", "destination_config", "progress", "created_at"}, obj{
			"id": integer(""), "status": enum(restoreStatuses...),
			"backup_operation_id": integer(""), "destination_connection_id": integer(""),
			"destination_config": ref("RestoreConfig"),
			"progress":           ref("Progress"), "error_message": str(""),
			"started_at": dateTime(true), "completed_at": dateTime(true), "created_at": dateTime(false),
		}),
		"RestoreList": listOf("Restore"),

		"LogLine": object("One line of an operation's log.", []string{"id", "level", "message", "context", "created_at"}, obj{
			"id": integer(""), "level": enum("info", "warning", "error"), "message": str(""),
			"context": obj{"type": "object", "additionalProperties": true}, "created_at": dateTime(false),
		}),
		"LogPage": object("", []string{"items", "next_after"}, obj{
			"items": arrayOf(ref("LogLine")), "next_after": integer("Pass as ?after= to get the next lines."),
		}),

		"DashboardOperation": obj{"description": "A backup or restore, with kind saying which.", "allOf": []any{
			obj{"type": "object", "required": []string{"kind"}, "properties": obj{"kind": enum(store.KindBackup, store.KindRestore)}},
			obj{"oneOf": []any{ref("Backup"), ref("Restore")}},
		}},
		"Dashboard": object("", []string{"backups_by_status", "restores_by_status", "running", "recent_failures", "connections"}, obj{
			"backups_by_status":  obj{"type": "object", "additionalProperties": obj{"type": "integer"}},
			"restores_by_status": obj{"type": "object", "additionalProperties": obj{"type": "integer"}},
			"running":            arrayOf(ref("DashboardOperation")),
			"recent_failures":    arrayOf(ref("DashboardOperation")),
			"connections": object("", []string{"healthy", "failing", "unchecked", "items"}, obj{
				"healthy": integer(""), "failing": integer(""), "unchecked": integer(""), "items": arrayOf(ref("Connection")),
			}),
		}),

		"TokenRequest": closed("", []string{"name"}, obj{"name": obj{"type": "string", "maxLength": maxTokenName}}),
		"Token": object("", []string{"id", "name", "created_at"}, obj{
			"id": integer(""), "name": str(""), "created_at": dateTime(false), "last_used_at": dateTime(true),
		}),
		"NewToken": object("", []string{"id", "name", "token"}, obj{
			"id": integer(""), "name": str(""), "token": str("The token; it is not shown again."),
		}),
		"TokenList": itemsOf("Token"),

		"UserAdmin": object("A user as administrators see them.", []string{"id", "email", "role", "disabled", "created_at", "updated_at"}, obj{
			"id": integer(""), "email": str(""), "role": ref("Role"), "disabled": boolean(""),
			"created_at": dateTime(false), "updated_at": dateTime(false),
		}),
		"UserList": itemsOf("UserAdmin"),
		"UserCreate": closed("", []string{"email", "role", "password"}, obj{
			"email": str(""), "role": ref("Role"), "password": obj{"type": "string", "format": "password", "minLength": minPasswordLen},
		}),
		"UserUpdate": closed("Only the fields sent change.", nil, obj{"role": ref("Role"), "disabled": boolean("")}),
		"PasswordRequest": closed("", []string{"password"}, obj{
			"password": obj{"type": "string", "format": "password", "minLength": minPasswordLen},
		}),

		"AuditEvent": object("Who did what; never secrets.", []string{"id", "action", "created_at"}, obj{
			"id": integer(""), "actor_id": nullable(integer("")), "actor_email": str(""),
			"action": str("e.g. connection.create, backup.pause, auth.login_failed"), "target_type": str(""), "target_id": str(""),
			"ip": str(""), "details": obj{"type": "object", "additionalProperties": true}, "created_at": dateTime(false),
		}),
		"AuditList": listOf("AuditEvent"),

		"Health": object("", []string{"status", "database", "queue"}, obj{
			"status": enum("ok", "unavailable"), "database": enum("ok", "unavailable"), "queue": enum("ok", "unavailable"),
			"error": str(""),
		}),
	}
}

// openapiHandler serves the document, built once per server.
func (s *server) openapiHandler() (http.Handler, error) {
	body, err := json.Marshal(openapiDocument())
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	}), nil
}
