package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiffhq/skiff/nodeagent/imagestore"
)

// imageCommand is `skiff image`: the images of a node's store, read and changed whether or not the agent
// using that store runs.
func imageCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the images of this node: import, pull, list, remove",
		Long: `Manage the images of the node agent that uses --data-dir: import OCI and docker archives, pull from
registries, list and remove. The agent may be running: it sees the changes at once.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", defaultAgentDataDir(), "data directory of the agent whose images to manage")
	open := func() (*imagestore.Store, error) { return imagestore.Open(dataDir) }
	cmd.AddCommand(imageImportCommand(open), imageListCommand(open), imageRemoveCommand(open), imagePullCommand(open))
	return cmd
}

type openStore func() (*imagestore.Store, error)

// withStore runs fn on the store, cancelled by SIGINT or SIGTERM so that a partial unpack is cleaned up.
func withStore(cmd *cobra.Command, open openStore, fn func(ctx context.Context, s *imagestore.Store) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := open()
	if err != nil {
		return err
	}
	err = fn(ctx, s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

func imageImportCommand(open openStore) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE...",
		Short: "Import images from OCI layouts or tarballs (OCI layout or docker archive, gzipped or not)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, open, func(ctx context.Context, s *imagestore.Store) error {
				for _, path := range args {
					images, err := s.Import(ctx, path)
					if err != nil {
						return err
					}
					for _, img := range images {
						if len(img.RepoTags) == 0 {
							fmt.Fprintln(cmd.OutOrStdout(), img.ID)
						}
						for _, ref := range img.RepoTags {
							fmt.Fprintln(cmd.OutOrStdout(), ref)
						}
					}
				}
				return nil
			})
		},
	}
}

func imageListCommand(open openStore) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, open, func(_ context.Context, s *imagestore.Store) error {
				images, err := s.List()
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
				fmt.Fprintln(w, "IMAGE\tTAG\tDIGEST\tSIZE")
				for _, img := range images {
					short := strings.TrimPrefix(img.ID, "sha256:")[:12]
					if len(img.RepoTags) == 0 {
						fmt.Fprintf(w, "<none>\t<none>\t%s\t%s\n", short, humanSize(img.Size))
					}
					for _, ref := range img.RepoTags {
						i := strings.LastIndex(ref, ":")
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ref[:i], ref[i+1:], short, humanSize(img.Size))
					}
				}
				return w.Flush()
			})
		},
	}
}

func imageRemoveCommand(open openStore) *cobra.Command {
	return &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"rmi", "remove"},
		Short:   "Remove images by reference or ID; an image goes when its last tag does",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, open, func(ctx context.Context, s *imagestore.Store) error {
				var errs []error
				for _, ref := range args {
					if err := s.Remove(ctx, ref); err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintln(cmd.OutOrStdout(), "Deleted:", ref)
				}
				return errors.Join(errs...)
			})
		},
	}
}

func imagePullCommand(open openStore) *cobra.Command {
	var insecure, secretFiles []string
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image from a registry",
		Long: `Pull an image from a registry. Registries on loopback addresses and those given with
--insecure-registry are reached over plain HTTP; others over HTTPS. --pull-secret takes a docker config
file ({"auths": ...}, the payload of a kubernetes.io/dockerconfigjson secret).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := imagestore.PullOptions{InsecureRegistries: insecure}
			for _, f := range secretFiles {
				data, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("pull secret: %w", err)
				}
				opts.PullSecrets = append(opts.PullSecrets, data)
			}
			out := cmd.OutOrStdout()
			p := &progress{out: out, ref: args[0], tty: isTerminal(out)}
			opts.Progress = p.update
			return withStore(cmd, open, func(ctx context.Context, s *imagestore.Store) error {
				img, err := s.Pull(ctx, args[0], opts)
				p.finish()
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "pulled %s (%s)\n", args[0], img.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "registry (host[:port]) that may be reached over plain HTTP; repeatable")
	cmd.Flags().StringArrayVar(&secretFiles, "pull-secret", nil, "docker config file with credentials; repeatable")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a pull's download as a bar on a terminal and as a line a second otherwise.
type progress struct {
	out      io.Writer
	ref      string
	tty      bool
	last     time.Time
	drawn    bool
	complete bool
}

func (p *progress) update(done, total int64) {
	interval := time.Second
	if p.tty {
		interval = 100 * time.Millisecond
	}
	if total == 0 || p.complete || done < total && time.Since(p.last) < interval {
		return
	}
	p.last, p.drawn, p.complete = time.Now(), true, done == total
	if p.tty {
		const width = 30
		n := int(done * width / total)
		fmt.Fprintf(p.out, "\r%s [%s%s] %s/%s", p.ref, strings.Repeat("=", n), strings.Repeat(" ", width-n), humanSize(done), humanSize(total))
		return
	}
	fmt.Fprintf(p.out, "%s: %s/%s\n", p.ref, humanSize(done), humanSize(total))
}

func (p *progress) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.out)
	}
}

// humanSize prints a size as crictl does: decimal units, four significant digits.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
