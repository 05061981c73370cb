package batch

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronField describes one field of a standard five-field cron expression.
type cronField struct {
	min, max int
	names    map[string]int // lower-case aliases such as "jan" or "sun"
}

func monthNames() map[string]int {
	return map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
}

func weekdayNames() map[string]int {
	return map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
}

func cronFields() []cronField {
	return []cronField{
		{min: 0, max: 59},                       // minute
		{min: 0, max: 23},                       // hour
		{min: 1, max: 31},                       // day of month
		{min: 1, max: 12, names: monthNames()},  // month
		{min: 0, max: 6, names: weekdayNames()}, // day of week
	}
}

// parseSchedule checks a CronJob schedule the way the cron library used by the CronJob controller
// parses it (the "standard" parser): an optional TZ= or CRON_TZ= prefix, then either a descriptor
// (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>) or five
// fields, each a comma-separated list of *, ?, values, names, ranges a-b and steps /n.
func parseSchedule(spec string) error {
	if spec == "" {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		eq := strings.Index(spec, "=")
		sp := strings.Index(spec, " ")
		if sp < 0 {
			return fmt.Errorf("expected a schedule after the time zone: %s", spec)
		}
		tz := spec[eq+1 : sp]
		if _, err := time.LoadLocation(tz); err != nil {
			return fmt.Errorf("provided bad location %s: %v", tz, err)
		}
		spec = strings.TrimSpace(spec[sp:])
	}
	if strings.HasPrefix(spec, "@") {
		return parseDescriptor(spec)
	}

	parts := strings.Fields(spec)
	fields := cronFields()
	if len(parts) != len(fields) {
		return fmt.Errorf("expected exactly %d fields, found %d: %s", len(fields), len(parts), parts)
	}
	for i, part := range parts {
		for _, expr := range strings.Split(part, ",") {
			if expr == "" {
				continue
			}
			if err := parseCronRange(expr, fields[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseDescriptor(spec string) error {
	switch spec {
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		return nil
	}
	const every = "@every "
	if strings.HasPrefix(spec, every) {
		if _, err := time.ParseDuration(spec[len(every):]); err != nil {
			return fmt.Errorf("failed to parse duration %s: %s", spec, err)
		}
		return nil
	}
	return fmt.Errorf("unrecognized descriptor: %s", spec)
}

// parseCronRange checks one list element: "*", "?", "v", "a-b", each optionally followed by "/step".
func parseCronRange(expr string, f cronField) error {
	rangeAndStep := strings.Split(expr, "/")
	if len(rangeAndStep) > 2 {
		return fmt.Errorf("too many slashes: %s", expr)
	}
	lowHigh := strings.Split(rangeAndStep[0], "-")
	var start, end int
	if lowHigh[0] == "*" || lowHigh[0] == "?" {
		start, end = f.min, f.max
	} else {
		var err error
		if start, err = parseCronValue(lowHigh[0], f); err != nil {
			return err
		}
		switch len(lowHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseCronValue(lowHigh[1], f); err != nil {
				return err
			}
		default:
			return fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	step := 1
	if len(rangeAndStep) == 2 {
		var err error
		if step, err = parseCronNumber(rangeAndStep[1]); err != nil {
			return err
		}
		// "N/step" means from N to the end of the field.
		if len(lowHigh) == 1 {
			end = f.max
		}
	}
	switch {
	case start < f.min:
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, f.min, expr)
	case end > f.max:
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, f.max, expr)
	case start > end:
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return nil
}

func parseCronValue(s string, f cronField) (int, error) {
	if v, ok := f.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	return parseCronNumber(s)
}

func parseCronNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, s)
	}
	return n, nil
}
