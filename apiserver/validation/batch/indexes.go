package batch

import (
	"fmt"
	"strconv"
	"strings"
)

// indexInterval is an inclusive range of completion indexes, as written in "1,3-5,7".
type indexInterval struct{ first, last int32 }

// parseIndexInterval parses "x" or "x-y" with x < y < completions.
func parseIndexInterval(s string, completions int32) (indexInterval, error) {
	limits := strings.Split(s, "-")
	if len(limits) > 2 {
		return indexInterval{}, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", s)
	}
	bound := func(v string) (int32, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("cannot convert string to integer for index: %q", v)
		}
		if n >= int(completions) {
			return 0, fmt.Errorf("too large index: %q", v)
		}
		return int32(n), nil
	}
	first, err := bound(limits[0])
	if err != nil {
		return indexInterval{}, err
	}
	if len(limits) == 1 {
		return indexInterval{first, first}, nil
	}
	last, err := bound(limits[1])
	if err != nil {
		return indexInterval{}, err
	}
	if first >= last {
		return indexInterval{}, fmt.Errorf("non-increasing order, previous: %d, current: %d", first, last)
	}
	return indexInterval{first, last}, nil
}

// countIndexes checks an index list such as status.completedIndexes (sorted, disjoint intervals below
// completions) and returns how many indexes it names.
func countIndexes(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var total int32
	var prev *indexInterval
	for _, part := range strings.Split(s, ",") {
		iv, err := parseIndexInterval(part, completions)
		if err != nil {
			return 0, err
		}
		if prev != nil && prev.last >= iv.first {
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", prev.last, iv.first)
		}
		total += iv.last - iv.first + 1
		prev = &iv
	}
	return total, nil
}

// parseValidIntervals returns the intervals of an index list that parse, skipping the others: their
// format errors are reported separately.
func parseValidIntervals(s string, completions int32) []indexInterval {
	if s == "" {
		return nil
	}
	var out []indexInterval
	for _, part := range strings.Split(s, ",") {
		if iv, err := parseIndexInterval(part, completions); err == nil {
			out = append(out, iv)
		}
	}
	return out
}

// firstOverlap reports the lowest index that both sorted interval lists contain.
func firstOverlap(a, b []indexInterval) (int32, bool) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i].first <= b[j].last && b[j].first <= a[i].last {
			return max(a[i].first, b[j].first), true
		}
		if a[i].first <= b[j].first {
			i++
		} else {
			j++
		}
	}
	return 0, false
}
