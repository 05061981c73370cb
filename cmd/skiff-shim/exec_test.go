package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

func TestMergeEnvPutsTheRequestOnTopOfTheContainer(t *testing.T) {
	tests := []struct {
		name        string
		base, extra []string
		want        []string
	}{
		{"nothing added keeps the container's", []string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{"a name set again is replaced in place", []string{"A=1", "B=2"}, []string{"A=9"}, []string{"A=9", "B=2"}},
		{"new names follow in order", []string{"A=1"}, []string{"C=3", "B=2"}, []string{"A=1", "C=3", "B=2"}},
		{"an empty value is a value", []string{"A=1"}, []string{"A="}, []string{"A="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shim.MergeEnv(tt.base, tt.extra); !slices.Equal(got, tt.want) {
				t.Errorf("MergeEnv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateExecRefusesMalformedRequests(t *testing.T) {
	tests := []struct {
		name string
		req  shim.ExecRequest
		ok   bool
	}{
		{"args, env and absolute cwd", shim.ExecRequest{Args: []string{"ls"}, Env: []string{"A=1"}, Cwd: "/tmp"}, true},
		{"no args", shim.ExecRequest{}, false},
		{"an empty program", shim.ExecRequest{Args: []string{""}}, false},
		{"a relative cwd", shim.ExecRequest{Args: []string{"ls"}, Cwd: "tmp"}, false},
		{"env without =", shim.ExecRequest{Args: []string{"ls"}, Env: []string{"A"}}, false},
		{"env without a name", shim.ExecRequest{Args: []string{"ls"}, Env: []string{"=1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateExec(&tt.req)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, shim.ErrInvalid)) {
				t.Errorf("validateExec = %v, want ok %v or ErrInvalid", err, tt.ok)
			}
		})
	}
}
