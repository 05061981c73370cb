package nodeagent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDesiredNodeStatus(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := then.Add(time.Hour)
	current := &corev1.Node{Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastTransitionTime: then, LastHeartbeatTime: then},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionUnknown, LastTransitionTime: then},
			{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated"},
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.99"}, {Type: corev1.NodeExternalIP, Address: "203.0.113.1"}},
		Images:    []corev1.ContainerImage{{Names: []string{"kept"}}},
	}}
	facts := nodeFacts{NodeIP: "192.0.2.1", Hostname: "n1", Capacity: DefaultCapacity(),
		Info: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "simulated://0.1"}}
	s := desiredNodeStatus(current, facts, now)

	byType := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range s.Conditions {
		byType[c.Type] = c
	}
	if c := byType[corev1.NodeReady]; !c.LastTransitionTime.Equal(&then) || !c.LastHeartbeatTime.Time.Equal(now) || c.Message != "kubelet is posting ready status" {
		t.Errorf("Ready = %+v: it stayed True, so its transition time is kept and its heartbeat moves", c)
	}
	if c := byType[corev1.NodeMemoryPressure]; c.Status != corev1.ConditionFalse || c.Reason != "KubeletHasSufficientMemory" || !c.LastTransitionTime.Time.Equal(now) {
		t.Errorf("MemoryPressure = %+v", c)
	}
	for _, typ := range []corev1.NodeConditionType{corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		if c := byType[typ]; c.Status != corev1.ConditionFalse {
			t.Errorf("%s = %+v", typ, c)
		}
	}
	if c := byType[corev1.NodeNetworkUnavailable]; c.Reason != "RouteCreated" {
		t.Errorf("a condition another component owns was not kept: %+v", s.Conditions)
	}
	want := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}, {Type: corev1.NodeHostName, Address: "n1"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}}
	if len(s.Addresses) != len(want) {
		t.Fatalf("addresses = %v", s.Addresses)
	}
	for i := range want {
		if s.Addresses[i] != want[i] {
			t.Errorf("addresses = %v, want %v", s.Addresses, want)
		}
	}
	if cpu := s.Allocatable[corev1.ResourceCPU]; cpu.String() != "8" || s.NodeInfo.KubeletVersion != "v1.37.2" || s.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("allocatable %v nodeInfo %+v endpoints %+v", s.Allocatable, s.NodeInfo, s.DaemonEndpoints)
	}
	if len(s.Images) != 1 {
		t.Errorf("images were not kept: %v", s.Images)
	}

	// Posted once, the same status made again later differs by heartbeats only.
	posted := current.DeepCopy()
	posted.Status = s
	later := desiredNodeStatus(posted, facts, now.Add(10*time.Second))
	if !nodeStatusEqual(&s, &later) {
		t.Error("a status differing only by heartbeats counts as changed")
	}
	facts.NodeIP = "192.0.2.2"
	if moved := desiredNodeStatus(posted, facts, now); nodeStatusEqual(&s, &moved) {
		t.Error("a new node IP does not count as a change")
	}
}

func TestNodeInfoIDsAreStablePerNodeAndDistinct(t *testing.T) {
	machine := systemInfo("simulated://0.1")
	a, b := nodeInfo(machine, "sim-0"), nodeInfo(machine, "sim-1")
	if a.MachineID == b.MachineID || a.SystemUUID == b.SystemUUID {
		t.Error("two nodes share IDs")
	}
	if again := nodeInfo(systemInfo("simulated://0.1"), "sim-0"); again.MachineID != a.MachineID || again.SystemUUID != a.SystemUUID {
		t.Error("a node's IDs change across starts")
	}
	if machine.KernelVersion == "" || machine.OSImage == "" || machine.BootID == "" {
		t.Errorf("machine info = %+v", machine)
	}
}
