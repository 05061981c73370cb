package controllers

import (
	"strings"
	"testing"
)

func TestControllerSelection(t *testing.T) {
	cases := []struct {
		name        string
		controllers []string
		disabled    []string
		want        map[string]bool
		wantErr     string
	}{
		{name: "default is all", want: map[string]bool{"scheduler": true, "job": true}},
		{name: "star", controllers: []string{"*"}, want: map[string]bool{"scheduler": true, "garbagecollector": true}},
		{name: "only named", controllers: []string{"scheduler"}, want: map[string]bool{"scheduler": true, "job": false}},
		{name: "star less one", controllers: []string{"*", "-job"}, want: map[string]bool{"scheduler": true, "job": false}},
		{name: "minus wins over its name", controllers: []string{"job", "-job"}, want: map[string]bool{"job": false}},
		{name: "disabled wins", controllers: []string{"*"}, disabled: []string{"scheduler"}, want: map[string]bool{"scheduler": false, "job": true}},
		{name: "unknown in controllers", controllers: []string{"*", "-sheduler"}, wantErr: `--controllers: unknown controller "sheduler"`},
		{name: "unknown disabled", disabled: []string{"jobs"}, wantErr: `--disable-controllers: unknown controller "jobs"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Controllers: c.controllers, Disabled: c.disabled}
			o.setDefaults()
			err := o.validate()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range c.want {
				if got := o.enabled(name); got != want {
					t.Errorf("enabled(%q) = %v, want %v", name, got, want)
				}
			}
		})
	}
}
