package connection

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/store"
)

// DriveConfig is the credentials document of a "google_drive" connection:
// OAuth tokens (the client id and secret come from the server's config) or a
// service account key, and the folder archives are kept in.
type DriveConfig struct {
	AccessToken        string `json:"access_token,omitempty"`
	RefreshToken       string `json:"refresh_token,omitempty"`
	FolderID           string `json:"folder_id"`
	ServiceAccountJSON string `json:"service_account_json,omitempty"`
}

func driveSpec() *spec {
	return &spec{
		typ:     store.TypeGoogleDrive,
		roles:   []Role{RoleDestination},
		secrets: []string{"access_token", "refresh_token", "service_account_json"},
		mask:    maskSecret,
		merge:   mergeSecret,
		decode: func(data []byte, _ []string) (any, map[string]string) {
			var c DriveConfig
			if errs := decodeStrict(data, &c); errs != nil {
				return nil, errs
			}
			if errs := c.Validate(); len(errs) > 0 {
				return nil, errs
			}
			return c, nil
		},
		check: func(context.Context, any, []string) (connector.CheckResult, error) {
			return connector.CheckResult{}, errCheckUnavailable(store.TypeGoogleDrive)
		},
	}
}

// Validate checks the configuration without contacting Google and returns
// field name -> reason (empty when valid).
func (c DriveConfig) Validate() map[string]string {
	errs := map[string]string{}
	if blank(c.FolderID) {
		errs["folder_id"] = "is required (the id at the end of the folder's Drive URL)"
	} else if len(c.FolderID) > 256 || strings.ContainsAny(c.FolderID, " /\\?#'\"\x00") {
		errs["folder_id"] = "must be a Drive folder id (letters, digits, - and _)"
	}
	checkLen(errs, "access_token", c.AccessToken, maxFieldLen)
	checkLen(errs, "refresh_token", c.RefreshToken, maxFieldLen)
	checkLen(errs, "service_account_json", c.ServiceAccountJSON, maxSecretJSON)
	hasToken := c.AccessToken != "" || c.RefreshToken != ""
	hasSA := c.ServiceAccountJSON != ""
	switch {
	case !hasToken && !hasSA:
		errs["refresh_token"] = "is required unless service_account_json is given (connect with Google or paste a service account key)"
	case hasToken && hasSA:
		errs["service_account_json"] = "must not be given together with OAuth tokens; use one or the other"
	case hasSA && errs["service_account_json"] == "":
		if why := serviceAccountProblem(c.ServiceAccountJSON); why != "" {
			errs["service_account_json"] = why
		}
	}
	return errs
}

// serviceAccountProblem says why key is not a usable service account key file.
func serviceAccountProblem(key string) string {
	var sa struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal([]byte(key), &sa); err != nil {
		return "must be the JSON key file of a service account (it does not parse as JSON)"
	}
	if sa.Type != "" && sa.Type != "service_account" {
		return `must be a service account key ("type": "service_account")`
	}
	if sa.ClientEmail == "" || sa.PrivateKey == "" {
		return "must contain client_email and private_key (download a JSON key for the service account)"
	}
	return ""
}
