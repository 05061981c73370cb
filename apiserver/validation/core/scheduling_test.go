package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateNodeSelector(t *testing.T) {
	sel := func() *corev1.NodeSelector {
		return &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}},
			MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}},
		}}}
	}
	validate := func(s *corev1.NodeSelector) field.ErrorList {
		return ValidateNodeSelector(s, field.NewPath("required"))
	}
	term := "required.nodeSelectorTerms[0]"
	runCases(t, sel, validate, []tcase[corev1.NodeSelector]{
		{name: "selector by label and node name passes"},
		{name: "Gt takes one value", mutate: func(s *corev1.NodeSelector) {
			s.NodeSelectorTerms[0].MatchExpressions = []corev1.NodeSelectorRequirement{{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}}}
		}},
		{name: "Gt with two values fails", mutate: func(s *corev1.NodeSelector) {
			s.NodeSelectorTerms[0].MatchExpressions = []corev1.NodeSelectorRequirement{{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"4", "8"}}}
		}, typ: field.ErrorTypeRequired, field: term + ".matchExpressions[0].values"},
		{name: "Exists takes no values", mutate: func(s *corev1.NodeSelector) {
			s.NodeSelectorTerms[0].MatchExpressions[0].Operator = corev1.NodeSelectorOpExists
		}, typ: field.ErrorTypeForbidden, field: term + ".matchExpressions[0].values"},
		{name: "operators are known", mutate: func(s *corev1.NodeSelector) { s.NodeSelectorTerms[0].MatchExpressions[0].Operator = "Near" },
			typ: field.ErrorTypeInvalid, field: term + ".matchExpressions[0].operator"},
		{name: "values are label values", mutate: func(s *corev1.NodeSelector) { s.NodeSelectorTerms[0].MatchExpressions[0].Values = []string{"a b"} },
			typ: field.ErrorTypeInvalid, field: term + ".matchExpressions[0].values[0]"},
		{name: "match fields only know metadata.name", mutate: func(s *corev1.NodeSelector) { s.NodeSelectorTerms[0].MatchFields[0].Key = "spec.unschedulable" },
			typ: field.ErrorTypeInvalid, field: term + ".matchFields[0].key"},
		{name: "match fields take one node name", mutate: func(s *corev1.NodeSelector) { s.NodeSelectorTerms[0].MatchFields[0].Values = []string{"a", "b"} },
			typ: field.ErrorTypeRequired, field: term + ".matchFields[0].values"},
		{name: "terms are required", mutate: func(s *corev1.NodeSelector) { s.NodeSelectorTerms = nil },
			typ: field.ErrorTypeRequired, field: "required.nodeSelectorTerms"},
	})
}

func TestValidateTopologySelectorTerm(t *testing.T) {
	term := func() *corev1.TopologySelectorTerm {
		return &corev1.TopologySelectorTerm{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: "topology.kubernetes.io/zone", Values: []string{"a", "b"}}}}
	}
	validate := func(s *corev1.TopologySelectorTerm) field.ErrorList {
		return ValidateTopologySelectorTerm(*s, field.NewPath("allowedTopologies").Index(0))
	}
	p := "allowedTopologies[0].matchLabelExpressions"
	runCases(t, term, validate, []tcase[corev1.TopologySelectorTerm]{
		{name: "zone list passes"},
		{name: "values are required", mutate: func(s *corev1.TopologySelectorTerm) { s.MatchLabelExpressions[0].Values = nil },
			typ: field.ErrorTypeRequired, field: p + "[0].values"},
		{name: "values are unique", mutate: func(s *corev1.TopologySelectorTerm) { s.MatchLabelExpressions[0].Values = []string{"a", "a"} },
			typ: field.ErrorTypeDuplicate, field: p + "[0].values[1]"},
		{name: "keys are unique", mutate: func(s *corev1.TopologySelectorTerm) {
			s.MatchLabelExpressions = append(s.MatchLabelExpressions, s.MatchLabelExpressions[0])
		}, typ: field.ErrorTypeDuplicate, field: p + "[1].key"},
		{name: "keys are label names", mutate: func(s *corev1.TopologySelectorTerm) { s.MatchLabelExpressions[0].Key = "a b" },
			typ: field.ErrorTypeInvalid, field: p + "[0].key"},
	})
}

func TestSysctlNamespaces(t *testing.T) {
	for name, want := range map[string]string{
		"net.ipv4.ip_forward":                 "net",
		"net/ipv4/conf/eth0.100/rp_filter":    "net",
		"kernel.shm_rmid_forced":              "ipc",
		"kernel.sem":                          "ipc",
		"fs.mqueue.msg_max":                   "ipc",
		"kernel.domainname":                   "",
		"vm.max_map_count":                    "",
		"kernel/msgmax":                       "ipc",
		"net.ipv6.conf.all.disable_ipv6":      "net",
		"fs.inotify.max_user_watches":         "",
		"kernel.shmmax":                       "ipc",
		"net.core.somaxconn":                  "net",
		"net/netfilter/nf_conntrack_max":      "net",
		"fs/mqueue/queues_max":                "ipc",
		"user.max_user_namespaces":            "",
		"kernel.core_pattern":                 "",
		"net.ipv4.conf.eth0/100.rp_filter":    "net",
		"net.ipv4.tcp_keepalive_time":         "net",
		"kernel.msgmnb":                       "ipc",
		"net.ipv4.ping_group_range":           "net",
		"kernel.sem_next_id":                  "",
		"kernel.sched_child_runs_first":       "",
		"fs.mqueue.queues_max":                "ipc",
		"net.bridge.bridge-nf-call-iptables":  "net",
		"net.ipv4.neigh.default.gc_thresh1":   "net",
		"kernel.pid_max":                      "",
		"kernel.threads-max":                  "",
		"net.unix.max_dgram_qlen":             "net",
		"kernel.shm_next_id":                  "ipc",
		"kernel.msg_next_id":                  "ipc",
		"net.ipv4.ip_local_reserved_ports":    "net",
		"net.ipv4.ip_unprivileged_port_start": "net",
	} {
		if got := sysctlNamespace(name); got != want {
			t.Errorf("sysctlNamespace(%q) = %q, want %q", name, got, want)
		}
		if !isValidSysctlName(name) {
			t.Errorf("isValidSysctlName(%q) = false, want true", name)
		}
	}
	for _, bad := range []string{"", "Net.core", ".net", "net.", "net..core", "net._core", "net.core-", "a b"} {
		if isValidSysctlName(bad) {
			t.Errorf("isValidSysctlName(%q) = true, want false", bad)
		}
	}
}
