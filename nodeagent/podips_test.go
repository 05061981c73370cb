package nodeagent

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestPodIPAllocator(t *testing.T) {
	a := newPodIPAllocator()
	ip, err := a.Allocate("p1", "10.42.3.0/24")
	if err != nil || ip != "10.42.3.2" {
		t.Fatalf("first address = %q, %v; want 10.42.3.2 (.0 is the network, .1 the gateway)", ip, err)
	}
	if again, _ := a.Allocate("p1", "10.42.3.0/24"); again != ip {
		t.Errorf("a pod asking again got %s, want its %s", again, ip)
	}
	next, _ := a.Allocate("p2", "10.42.3.0/24")
	if next != "10.42.3.3" {
		t.Errorf("second address = %s", next)
	}
	a.Release("p1")
	if got, _ := a.Allocate("p3", "10.42.3.0/24"); got != "10.42.3.4" {
		t.Errorf("after a release the next address is %s, want 10.42.3.4 (a released one is not reused at once)", got)
	}

	// Reserved addresses, recovered from pods' status after a restart, are not handed out again.
	b := newPodIPAllocator()
	if !b.Reserve("old", "10.42.3.2") || b.Reserve("other", "10.42.3.2") {
		t.Error("a reservation must hold, and exclude other pods")
	}
	if got, _ := b.Allocate("new", "10.42.3.0/24"); got != "10.42.3.3" {
		t.Errorf("after a reservation of .2 the first address is %s", got)
	}
	if got, _ := b.Allocate("old", "10.42.3.0/24"); got != "10.42.3.2" {
		t.Errorf("the reserved pod got %s, want its 10.42.3.2", got)
	}
}

func TestPodIPAllocatorFillsTheCIDRAndWrapsAround(t *testing.T) {
	a := newPodIPAllocator()
	for i := range 253 { // .2 to .254
		if _, err := a.Allocate(types.UID(fmt.Sprint(i)), "10.0.0.0/24"); err != nil {
			t.Fatalf("address %d: %v", i, err)
		}
	}
	if _, err := a.Allocate("one-too-many", "10.0.0.0/24"); err == nil {
		t.Fatal("a full CIDR handed out an address")
	}
	a.Release("7")
	if got, err := a.Allocate("late", "10.0.0.0/24"); err != nil || got != "10.0.0.9" {
		t.Errorf("after a release in a full CIDR: %q, %v; want 10.0.0.9", got, err)
	}
	if _, err := a.Allocate("x", "10.0.0.0/31"); err == nil {
		t.Error("a /31 has no room for pods")
	}
	if _, err := a.Allocate("x", "not-a-cidr"); err == nil {
		t.Error("a bad CIDR gave an address")
	}
	if got, err := a.Allocate("v6", "fd00:42::/64"); err != nil || got != "fd00:42::2" {
		t.Errorf("IPv6: %q, %v", got, err)
	}
}
