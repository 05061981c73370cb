package batch

import (
	"strings"
	"testing"
)

func TestParseScheduleAcceptsStandardCron(t *testing.T) {
	for _, s := range []string{
		"* * * * *",
		"*/5 * * * *",
		"0 0 1 1 *",
		"0 9-17 * * 1-5",
		"0 9-17/2 * JAN-MAR mon,wed,FRI",
		"30 2 ? * sun",
		"5/15 * * * *",
		"0,15,30,45 * * * *",
		"0 0 31 12 6",
		"  0   0  *  *  *  ",
		"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
		"@every 1h30m",
		"CRON_TZ=Europe/Berlin 0 6 * * *",
		"TZ=UTC @daily",
	} {
		if err := parseSchedule(s); err != nil {
			t.Errorf("parseSchedule(%q) = %v, want nil", s, err)
		}
	}
}

func TestParseScheduleRejectsMalformedCron(t *testing.T) {
	cases := []struct{ schedule, wantErr string }{
		{"", "empty spec string"},
		{"* * * *", "expected exactly 5 fields, found 4"},
		{"* * * * * *", "expected exactly 5 fields, found 6"},
		{"60 * * * *", "end of range (60) above maximum (59)"},
		{"* 24 * * *", "end of range (24) above maximum (23)"},
		{"* * 0 * *", "beginning of range (0) below minimum (1)"},
		{"* * * 13 *", "end of range (13) above maximum (12)"},
		{"* * * * 7", "end of range (7) above maximum (6)"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1)"},
		{"*/0 * * * *", "step of range should be a positive number"},
		{"1-2-3 * * * *", "too many hyphens"},
		{"*/2/3 * * * *", "too many slashes"},
		{"a * * * *", "failed to parse int from a"},
		{"* * * * funday", "failed to parse int from funday"},
		{"@fortnightly", "unrecognized descriptor"},
		{"@every forever", "failed to parse duration"},
		{"CRON_TZ=Mars/Olympus * * * * *", "provided bad location Mars/Olympus"},
		{"TZ=UTC", "expected a schedule after the time zone"},
	}
	for _, tc := range cases {
		err := parseSchedule(tc.schedule)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("parseSchedule(%q) = %v, want error containing %q", tc.schedule, err, tc.wantErr)
		}
	}
}
