package notify

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Service URLs in the documented shapes of each shoutrrr service, with
// made-up credentials.
const (
	slackURL    = "slack://hook:WNA3PBYV6-F20DUQND3RQ-Webc4MAvoacrpPakR8phF0zi@webhook"
	slackToken  = "WNA3PBYV6-F20DUQND3RQ-Webc4MAvoacrpPakR8phF0zi"
	discordURL  = "discord://W3dE2OZz4C13_4z_uHfDOoC7BqTW288s-z1ykqI0iJnY_HjRqMGO8Sc7YDqvf_KVKjhJ@693853386302554172"
	discordTok  = "W3dE2OZz4C13_4z_uHfDOoC7BqTW288s-z1ykqI0iJnY_HjRqMGO8Sc7YDqvf_KVKjhJ"
	telegramURL = "telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@coffer_alerts"
	telegramTok = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	ntfyURL     = "ntfy://alerts:Ntfy-Pa55word@ntfy.example.com/coffer-backups-7f3a9c"
	genericURL  = "generic://hooks.example.com/notify/Zk29xQ8wLm4?@Authorization=Bearer%20gen-tok-8812aa&disabletls=yes"
)

func TestDecodeConfigReasons(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		config string
		field  string
		reason string // a substring of the reason
	}{
		{"unknown type", "sms", `{}`, "type", `unknown channel type "sms"`},
		{"no type", "", `{}`, "type", "is required"},
		{"email port 0", TypeEmail, `{"host":"smtp.example.com","port":0,"from":"c@example.com","to":["a@example.com"]}`, "port", "between 1 and 65535"},
		{"email port too big", TypeEmail, `{"host":"smtp.example.com","port":70000,"from":"c@example.com","to":["a@example.com"]}`, "port", "between 1 and 65535"},
		{"email bad from", TypeEmail, `{"host":"smtp.example.com","port":587,"from":"coffer at example","to":["a@example.com"]}`, "from", "not a valid e-mail address"},
		{"email bad to", TypeEmail, `{"host":"smtp.example.com","port":587,"from":"c@example.com","to":["a@example.com","bob@"]}`, "to", `"bob@" is not a valid e-mail address`},
		{"email no to", TypeEmail, `{"host":"smtp.example.com","port":587,"from":"c@example.com","to":[]}`, "to", "at least one recipient"},
		{"email no host", TypeEmail, `{"port":587,"from":"c@example.com","to":["a@example.com"]}`, "host", "is required"},
		{"email host with scheme", TypeEmail, `{"host":"smtp://mail","port":587,"from":"c@example.com","to":["a@example.com"]}`, "host", "without a scheme"},
		{"email unknown key", TypeEmail, `{"host":"smtp.example.com","port":587,"from":"c@example.com","to":["a@example.com"],"tls":true}`, "tls", "not a known field"},
		{"email port string", TypeEmail, `{"host":"smtp.example.com","port":"587"}`, "port", "must be an integer"},
		{"email security", TypeEmail, `{"host":"smtp.example.com","port":587,"from":"c@example.com","to":["a@example.com"],"security":"ssl"}`, "security", `unknown security "ssl"`},
		{"email password over plain text", TypeEmail, `{"host":"smtp.example.com","port":25,"username":"u","password":"secret-pw","from":"c@example.com","to":["a@example.com"],"security":"none"}`, "security", "only to a server on this machine"},
		{"email password without user", TypeEmail, `{"host":"smtp.example.com","port":587,"password":"secret-pw","from":"c@example.com","to":["a@example.com"]}`, "username", "required when a password is set"},
		{"email masked password, nothing stored", TypeEmail, `{"host":"smtp.example.com","port":587,"username":"u","password":"****","from":"c@example.com","to":["a@example.com"]}`, "password", "masked"},
		{"email header injection", TypeEmail, `{"host":"smtp.example.com","port":587,"from":"c@example.com\r\nBcc: x@evil.example","to":["a@example.com"]}`, "from", "line breaks"},
		{"webhook bad url", TypeWebhook, `{"url":"not a url"}`, "url", "http:// or https://"},
		{"webhook ftp", TypeWebhook, `{"url":"ftp://files.example.com/x"}`, "url", "http:// or https://"},
		{"webhook no host", TypeWebhook, `{"url":"https:///path"}`, "url", "must name a host"},
		{"webhook empty", TypeWebhook, `{}`, "url", "is required"},
		{"webhook bad header name", TypeWebhook, `{"url":"https://x.example.com/h","headers":{"Bad Header":"v"}}`, "headers", "not a valid header name"},
		{"webhook content type", TypeWebhook, `{"url":"https://x.example.com/h","headers":{"content-type":"text/plain"}}`, "headers", "set by coffer"},
		{"webhook coffer header", TypeWebhook, `{"url":"https://x.example.com/h","headers":{"X-Coffer-Signature":"sha256=00"}}`, "headers", "set by coffer"},
		{"webhook header value newline", TypeWebhook, `{"url":"https://x.example.com/h","headers":{"X-Env":"a\nb"}}`, "headers", "line breaks"},
		{"webhook short secret", TypeWebhook, `{"url":"https://x.example.com/h","secret":"abc"}`, "secret", "at least 16"},
		{"webhook headers not object", TypeWebhook, `{"url":"https://x.example.com/h","headers":["a"]}`, "headers", "must be an object"},
		{"shoutrrr empty", TypeShoutrrr, `{"url":""}`, "url", "is required"},
		{"shoutrrr unknown service", TypeShoutrrr, `{"url":"pigeon://coop/1"}`, "url", `unknown service "pigeon"`},
		{"shoutrrr not a url", TypeShoutrrr, `{"url":"just words"}`, "url", "not a valid URL"},
		{"shoutrrr bad slack token", TypeShoutrrr, `{"url":"slack://hook:tooshort@webhook"}`, "url", "not a valid slack URL"},
		{"shoutrrr masked, nothing stored", TypeShoutrrr, `{"url":"discord://****@693853386302554172"}`, "url", "masked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := DecodeConfig(tc.typ, []byte(tc.config), nil)
			if err == nil {
				t.Fatalf("DecodeConfig accepted %s: %+v", tc.config, cfg)
			}
			fe, ok := err.(FieldErrors)
			if !ok {
				t.Fatalf("error is %T (%v), want FieldErrors", err, err)
			}
			if !strings.Contains(fe[tc.field], tc.reason) {
				t.Fatalf("reasons %v: want %q under %q", fe, tc.reason, tc.field)
			}
		})
	}
}

func TestDecodeConfigValid(t *testing.T) {
	tests := []struct {
		typ, config string
	}{
		{TypeEmail, `{"host":"smtp.example.com","port":587,"username":"u","password":"p4ssw0rd!","from":"Coffer <coffer@example.com>","to":["ops@example.com","Bob <bob@example.com>"],"security":"starttls"}`},
		{TypeEmail, `{"host":"smtp.example.com","port":465,"from":"coffer@example.com","to":["ops@example.com"],"security":"tls"}`},
		{TypeEmail, `{"host":"127.0.0.1","port":25,"username":"u","password":"p","from":"coffer@example.com","to":["ops@example.com"],"security":"none"}`},
		{TypeEmail, `{"host":"localhost","port":25,"from":"coffer@example.com","to":["ops@example.com"],"security":"none"}`},
		{TypeEmail, `{"host":"smtp.example.com","port":587,"from":"coffer@example.com","to":["ops@example.com"]}`},
		{TypeWebhook, `{"url":"https://hooks.example.com/coffer","headers":{"Authorization":"Bearer abc"},"secret":"0123456789abcdef0123"}`},
		{TypeWebhook, `{"url":"http://127.0.0.1:9000/hook"}`},
		{TypeShoutrrr, `{"url":"` + slackURL + `"}`},
		{TypeShoutrrr, `{"url":"` + discordURL + `"}`},
		{TypeShoutrrr, `{"url":"` + telegramURL + `"}`},
		{TypeShoutrrr, `{"url":"` + ntfyURL + `"}`},
		{TypeShoutrrr, `{"url":"` + genericURL + `"}`},
		{TypeShoutrrr, `{"url":"generic+https://hooks.example.com/notify"}`},
		{TypeShoutrrr, `{"url":"gotify://gotify.example.com/AbCdEfGhIjKlMnO"}`},
	}
	for _, tc := range tests {
		if _, err := DecodeConfig(tc.typ, []byte(tc.config), nil); err != nil {
			t.Errorf("DecodeConfig(%s, %s): %v", tc.typ, tc.config, err)
		}
	}
}

func TestParseEvents(t *testing.T) {
	got, err := ParseEvents(nil)
	if err != nil || !reflect.DeepEqual(got, DefaultEvents()) {
		t.Fatalf("ParseEvents(nil) = %v, %v; want the default subscription", got, err)
	}
	want := []EventName{EventBackupFailed, EventRestoreFailed, EventPruneFailed, EventVerifyFailed,
		EventStorageInsufficient, EventPlanOverdue, EventPlanRecovered, EventConnectionNeedsReauth}
	if !reflect.DeepEqual(DefaultEvents(), want) {
		t.Fatalf("DefaultEvents() = %v, want %v", DefaultEvents(), want)
	}
	for _, e := range DefaultEvents() {
		if !e.Known() {
			t.Fatalf("default event %q is not known", e)
		}
	}
	if EventTest.Known() {
		t.Fatal("the test event must not be subscribable")
	}

	got, err = ParseEvents([]string{"plan.overdue", "backup.failed", "plan.overdue"})
	if err != nil || !reflect.DeepEqual(got, []EventName{EventBackupFailed, EventPlanOverdue}) {
		t.Fatalf("ParseEvents = %v, %v; want [backup.failed plan.overdue]", got, err)
	}

	_, err = ParseEvents([]string{})
	if fe, ok := err.(FieldErrors); !ok || !strings.Contains(fe["events"], "at least one") {
		t.Fatalf("ParseEvents([]) = %v; want a reason under events", err)
	}
	_, err = ParseEvents([]string{"backup.failed", "backup.exploded", "test"})
	fe, ok := err.(FieldErrors)
	if !ok || !strings.Contains(fe["events"], `"backup.exploded", "test" are not events`) {
		t.Fatalf("ParseEvents(unknown) = %v; want both unknown names under events", err)
	}
	if len(Events()) != 11 {
		t.Fatalf("Events() has %d names, want the 11 of docs/notifications.md", len(Events()))
	}
}

// TestMaskAndMerge checks for every channel type that the masked form holds
// no secret, and that sending the masked form back (with a non-secret field
// changed) keeps the stored secrets.
func TestMaskAndMerge(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		config  string
		secrets []string
		// edit changes a non-secret field of the masked JSON document.
		edit func(m map[string]any)
		// check verifies the merged configuration.
		check func(t *testing.T, merged, orig Config)
	}{
		{
			name:    "email",
			typ:     TypeEmail,
			config:  `{"host":"smtp.example.com","port":587,"username":"coffer","password":"correct-horse-battery","from":"coffer@example.com","to":["ops@example.com"],"security":"starttls"}`,
			secrets: []string{"correct-horse-battery"},
			edit:    func(m map[string]any) { m["port"] = 2525 },
			check: func(t *testing.T, merged, orig Config) {
				m := merged.(*EmailConfig)
				if m.Password != "correct-horse-battery" || m.Port != 2525 {
					t.Fatalf("merged = %+v", m)
				}
			},
		},
		{
			name:    "webhook",
			typ:     TypeWebhook,
			config:  `{"url":"https://user:url-pass-123@hooks.example.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx?token=query-tok-999&channel=ops","headers":{"Authorization":"Bearer header-tok-555","X-Env":"production"},"secret":"hmac-secret-0123456789"}`,
			secrets: []string{"url-pass-123", "T0123ABCD", "B0456EFGH", "abcdefghijklmnopqrstuvwx", "query-tok-999", "header-tok-555", "hmac-secret-0123456789"},
			edit: func(m map[string]any) {
				m["headers"].(map[string]any)["X-Team"] = "backup"
			},
			check: func(t *testing.T, merged, orig Config) {
				m, o := merged.(*WebhookConfig), orig.(*WebhookConfig)
				if m.URL != o.URL || m.Secret != o.Secret || m.Headers["Authorization"] != o.Headers["Authorization"] ||
					m.Headers["X-Env"] != "production" || m.Headers["X-Team"] != "backup" {
					t.Fatalf("merged = %+v, want %+v plus X-Team", m, o)
				}
			},
		},
		{name: "slack", typ: TypeShoutrrr, config: `{"url":"` + slackURL + `"}`, secrets: []string{slackToken}},
		{name: "slack legacy", typ: TypeShoutrrr, config: `{"url":"slack://T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"}`, secrets: []string{"T00000000", "B00000000", "XXXXXXXXXXXXXXXXXXXXXXXX"}},
		{name: "discord", typ: TypeShoutrrr, config: `{"url":"` + discordURL + `"}`, secrets: []string{discordTok, "693853386302554172"}},
		{name: "telegram", typ: TypeShoutrrr, config: `{"url":"` + telegramURL + `"}`, secrets: []string{telegramTok}},
		{name: "ntfy", typ: TypeShoutrrr, config: `{"url":"` + ntfyURL + `"}`, secrets: []string{"Ntfy-Pa55word", "coffer-backups-7f3a9c"}},
		{name: "generic", typ: TypeShoutrrr, config: `{"url":"` + genericURL + `"}`, secrets: []string{"gen-tok-8812aa", "Zk29xQ8wLm4"}},
		{name: "gotify", typ: TypeShoutrrr, config: `{"url":"gotify://gotify.example.com/AbCdEfGhIjKlMnO"}`, secrets: []string{"AbCdEfGhIjKlMnO"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig, err := DecodeConfig(tc.typ, []byte(tc.config), nil)
			if err != nil {
				t.Fatal(err)
			}
			masked, err := json.Marshal(orig.Masked())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.secrets {
				if strings.Contains(string(masked), s) {
					t.Fatalf("masked config %s still holds %q", masked, s)
				}
			}
			// Masking must not change the original.
			again, _ := json.Marshal(orig)
			if string(again) == string(masked) {
				t.Fatal("Masked changed nothing")
			}
			values := strings.Join(orig.SecretValues(), "\n")
			for _, s := range tc.secrets {
				if !strings.Contains(values, s) {
					t.Fatalf("SecretValues %q misses %q", orig.SecretValues(), s)
				}
			}

			var doc map[string]any
			if err := json.Unmarshal(masked, &doc); err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tc.edit(doc)
			}
			sent, _ := json.Marshal(doc)
			merged, err := DecodeConfig(tc.typ, sent, []byte(tc.config))
			if err != nil {
				t.Fatalf("sending back the masked config %s: %v", sent, err)
			}
			if tc.check != nil {
				tc.check(t, merged, orig)
			} else if !reflect.DeepEqual(merged, orig) {
				t.Fatalf("merged %+v, want %+v", merged, orig)
			}
		})
	}
}

func TestMergeKeepsNewSecrets(t *testing.T) {
	stored := `{"url":"` + discordURL + `"}`
	// A new token in the user position, the stored webhook id masked.
	sent := `{"url":"discord://NewTokenNewTokenNewToken@****2172"}`
	got, err := DecodeConfig(TypeShoutrrr, []byte(sent), []byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	if want := "discord://NewTokenNewTokenNewToken@693853386302554172"; got.(*ShoutrrrConfig).URL != want {
		t.Fatalf("merged URL %q, want %q", got.(*ShoutrrrConfig).URL, want)
	}

	email := `{"host":"smtp.example.com","port":587,"username":"u","password":"old-password","from":"c@example.com","to":["a@example.com"]}`
	got, err = DecodeConfig(TypeEmail, []byte(strings.Replace(email, "old-password", "new-password", 1)), []byte(email))
	if err != nil {
		t.Fatal(err)
	}
	if got.(*EmailConfig).Password != "new-password" {
		t.Fatalf("password %q, want the new one", got.(*EmailConfig).Password)
	}
}

func TestShoutrrrReasonHidesSecrets(t *testing.T) {
	// A Telegram token of the wrong shape: the reason must not echo it.
	raw := "telegram://not-a-valid-token-value-xyz@telegram?chats=@coffer"
	_, err := DecodeConfig(TypeShoutrrr, []byte(`{"url":"`+raw+`"}`), nil)
	if err == nil {
		t.Fatal("a Telegram URL with a malformed token was accepted")
	}
	if strings.Contains(err.Error(), "not-a-valid-token-value-xyz") {
		t.Fatalf("reason %q repeats the token", err)
	}
}
