package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// failedBackup is a backup.failed event of a plan, as the engine would
// report it.
func failedBackup(errText string) Event {
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	end := start.Add(3*time.Minute + 12*time.Second)
	size := int64(1288490188)
	return Event{
		Name:       EventBackupFailed,
		OccurredAt: end,
		Plan:       &PlanRef{ID: 7, Name: "nightly"},
		Operation: &Operation{
			Kind: KindBackup, ID: 42, Status: "failed",
			Source: "mongo-prod", Destination: "s3-archive",
			StartedAt: &start, CompletedAt: &end, ArchiveSize: &size,
			Error: errText,
		},
	}
}

func TestPrepareAndText(t *testing.T) {
	s := &Sender{PublicURL: "https://coffer.example.com/"}
	ev := s.Prepare(failedBackup("could not reach MongoDB at db.internal:27017: connection refused"))
	if want := `Plan "nightly": backup #42 of "mongo-prod" to "s3-archive" failed`; ev.Message != want {
		t.Fatalf("Message = %q, want %q", ev.Message, want)
	}
	if ev.URL != "https://coffer.example.com/backups/42" {
		t.Fatalf("URL = %q", ev.URL)
	}
	if ev.Operation.DurationS == nil || *ev.Operation.DurationS != 192 {
		t.Fatalf("DurationS = %v, want 192", ev.Operation.DurationS)
	}
	text := Text(ev)
	for _, line := range []string{
		ev.Message + "\n\n",
		"\nPlan: nightly\n",
		"\nSource: mongo-prod\n",
		"\nDestination: s3-archive\n",
		"\nStarted: 2026-12-01 03:00:00 UTC\n",
		"\nDuration: 3m12s\n",
		"\nSize: 1.2 GiB (1288490188 bytes)\n",
		"\nError: could not reach MongoDB at db.internal:27017: connection refused\n",
		"\n\nhttps://coffer.example.com/backups/42\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("text lacks %q:\n%s", line, text)
		}
	}
	if !strings.HasPrefix(text, ev.Message+"\n") {
		t.Errorf("text does not start with the one line:\n%s", text)
	}

	// The JSON body has the shape docs/notifications.md documents.
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"event", "occurred_at", "message", "url", "plan", "operation"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("body lacks %q: %s", k, body)
		}
	}
	if _, ok := doc["connection"]; ok {
		t.Errorf("body has a connection it was not given: %s", body)
	}
	op := doc["operation"].(map[string]any)
	for _, k := range []string{"kind", "id", "status", "source", "destination", "started_at", "completed_at", "duration_s", "archive_size", "error"} {
		if _, ok := op[k]; !ok {
			t.Errorf("operation lacks %q: %s", k, body)
		}
	}
	if doc["event"] != "backup.failed" || op["duration_s"] != 192.0 || op["archive_size"] != 1288490188.0 {
		t.Errorf("body = %s", body)
	}
}

func TestMessagesAndLinks(t *testing.T) {
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	end := start.Add(1500 * time.Millisecond)
	s := &Sender{PublicURL: "https://coffer.example.com"}
	tests := []struct {
		ev      Event
		message string
		url     string
	}{
		{
			Event{Name: EventBackupCompleted, Operation: &Operation{Kind: KindBackup, ID: 3, Source: "bucket", Destination: "drive", StartedAt: &start, CompletedAt: &end}},
			`Backup #3 of "bucket" to "drive" completed`, "https://coffer.example.com/backups/3",
		},
		{
			Event{Name: EventRestoreFailed, Operation: &Operation{Kind: KindRestore, ID: 9, Source: "mongo-prod", Destination: "mongo-staging"}},
			`Restore #9 of "mongo-prod" into "mongo-staging" failed`, "https://coffer.example.com/restores/9",
		},
		{
			Event{Name: EventRestoreCompleted, Operation: &Operation{Kind: KindRestore, ID: 10, Destination: "mongo-staging"}},
			`Restore #10 into "mongo-staging" completed`, "https://coffer.example.com/restores/10",
		},
		{
			Event{Name: EventVerifyFailed, Operation: &Operation{Kind: KindVerify, ID: 4, Source: "bucket", Destination: "s3-archive"}},
			`Verification #4 of "bucket" on "s3-archive" failed`, "https://coffer.example.com/verifications/4",
		},
		{
			Event{Name: EventPruneFailed, Plan: &PlanRef{ID: 2, Name: "hourly"}, Operation: &Operation{Kind: KindPrune, Error: "access denied"}},
			`Removing old backups of plan "hourly" failed`, "https://coffer.example.com/plans/2",
		},
		{
			Event{Name: EventPlanSkipped, Plan: &PlanRef{ID: 2, Name: "hourly"}, Detail: "The previous run (backup #8) was still running."},
			`Plan "hourly" skipped a run: The previous run (backup #8) was still running`, "https://coffer.example.com/plans/2",
		},
		{
			Event{Name: EventPlanOverdue, Plan: &PlanRef{ID: 2, Name: "hourly"}},
			`Plan "hourly" is overdue: no backup completed within its alert window`, "https://coffer.example.com/plans/2",
		},
		{
			Event{Name: EventPlanOverdue, Plan: &PlanRef{ID: 2, Name: "hourly"}, Detail: "no successful backup since 2026-12-01 03:00 UTC (alert after 26h)"},
			`Plan "hourly" is overdue: no successful backup since 2026-12-01 03:00 UTC (alert after 26h)`, "https://coffer.example.com/plans/2",
		},
		{
			Event{Name: EventPlanRecovered, Plan: &PlanRef{ID: 2, Name: "hourly"}, Operation: &Operation{Kind: KindBackup, ID: 11}},
			`Plan "hourly" is back on schedule: a backup completed`, "https://coffer.example.com/backups/11",
		},
		{
			Event{Name: EventConnectionNeedsReauth, Connection: &ConnectionRef{ID: 5, Name: "team drive"}},
			`Connection "team drive" needs to be connected again`, "https://coffer.example.com/connections/5/edit",
		},
		{
			Event{Name: EventStorageInsufficient, Connection: &ConnectionRef{ID: 6, Name: "nas"}, Detail: "1.2 GiB free, the last archive took 3.4 GiB"},
			`Not enough free space on "nas": 1.2 GiB free, the last archive took 3.4 GiB`, "https://coffer.example.com/connections/6/edit",
		},
		{
			Event{Name: EventBackupFailed, Operation: &Operation{Kind: KindBackup, ID: 12, Source: "evil\r\nBcc: x@example.com", Destination: "d"}},
			`Backup #12 of "evil  Bcc: x@example.com" to "d" failed`, "https://coffer.example.com/backups/12",
		},
		{
			Event{Name: EventTest},
			`Test message from coffer: this channel works`, "https://coffer.example.com/",
		},
	}
	for _, tc := range tests {
		got := s.Prepare(tc.ev)
		if got.Message != tc.message {
			t.Errorf("%s: Message = %q, want %q", tc.ev.Name, got.Message, tc.message)
		}
		if got.URL != tc.url {
			t.Errorf("%s: URL = %q, want %q", tc.ev.Name, got.URL, tc.url)
		}
		if strings.ContainsAny(got.Message, "\r\n") {
			t.Errorf("%s: Message %q has a line break", tc.ev.Name, got.Message)
		}
	}
	// Without a public URL there is no link.
	if got := (&Sender{}).Prepare(tests[0].ev); got.URL != "" || strings.Contains(Text(got), "http") {
		t.Errorf("without a public URL: URL %q, text %q", got.URL, Text(got))
	}
	// A detail the one line carries is not repeated in the body.
	ev := s.Prepare(tests[5].ev)
	if strings.Count(Text(ev), "still running") != 1 {
		t.Errorf("detail repeated:\n%s", Text(ev))
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[float64]string{0.4: "400ms", 1.5: "1.5s", 59.94: "59.9s", 192: "3m12s", 3725: "1h2m5s", -1: ""} {
		if got := formatDuration(in); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1536: "1.5 KiB (1536 bytes)", 5 << 30: "5.0 GiB (5368709120 bytes)"} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
	}
	if got := truncate("héllo wörld", 2); got != "h…" { // é is bytes 1-2
		t.Errorf("truncate = %q", got)
	}
}
