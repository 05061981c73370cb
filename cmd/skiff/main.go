// Command skiff is the one binary of a skiff cluster: `skiff server` runs the control plane, `skiff
// version` says which build this is.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	// CronJob time zones must resolve on machines without a zoneinfo database.
	_ "time/tzdata"
)

func main() {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "A small, fast, Kubernetes-compatible cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCommand(), controllersCommand(), agentCommand(), versionCommand(), imageCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
