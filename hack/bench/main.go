// Command bench measures a built skiff binary against the performance budgets of DESIGN.md and prints
// each figure beside its budget and anchor:
//
//   - cold start of `skiff server` on a fresh data dir until /readyz answers "ok" (median of -runs);
//   - the server's memory (VmRSS, and Pss from smaps_rollup) after start and after 200 ConfigMaps;
//   - API write throughput and latency: -creates ConfigMaps from -workers client-go clientsets;
//   - scheduler throughput, as kube-scheduler's scheduler_perf measures it: -pods pods bound on -nodes
//     simulated nodes by the scheduler alone, started after the pods exist; then the same cluster with
//     the server's controllers and the agent: the time until every pod runs, and the memory then;
//   - a rolling update of a Deployment of -rollout-replicas pods on as many simulated nodes.
//
// The anchors are kube-apiserver figures quoted from DESIGN.md; no kube-apiserver binary is available
// offline, so they are not measured in the same run, and the output says so.
//
//	make build && go run ./hack/bench -skiff bin/skiff [-json]
//
// Every server runs on 127.0.0.1 with a temporary data dir, is stopped with SIGTERM and its dir removed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// Budgets and anchors, from DESIGN.md "Performance budgets" and the benchmark's issue.
const (
	startBudget      = time.Second
	startAnchor      = 2800 * time.Millisecond // kube-apiserver 1.36 with etcd, on this machine
	memoryBudgetMiB  = 150
	memoryAnchorMiB  = 260 // kube-apiserver alone
	memoryConfigMaps = 200
	notMeasured      = "not measured in this run: no kube-apiserver binary is available offline"
)

type options struct {
	skiff   string
	runs    int
	creates int
	workers int
	json    bool

	controllers     bool
	nodes, pods     int
	rolloutReplicas int
}

func main() {
	var o options
	flag.StringVar(&o.skiff, "skiff", "bin/skiff", "skiff binary to measure")
	flag.IntVar(&o.runs, "runs", 7, "cold starts to measure")
	flag.IntVar(&o.creates, "creates", 2000, "ConfigMaps to create in the write benchmark")
	flag.IntVar(&o.workers, "workers", 32, "concurrent clients in the write benchmark")
	flag.BoolVar(&o.json, "json", false, "print machine-readable results")
	flag.BoolVar(&o.controllers, "controllers", true, "run the scheduler and rollout benchmarks")
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated nodes in the scheduler benchmark")
	flag.IntVar(&o.pods, "pods", 10000, "pods in the scheduler benchmark")
	flag.IntVar(&o.rolloutReplicas, "rollout-replicas", 100, "replicas (and simulated nodes) in the rollout benchmark; 0 skips it")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// report is the benchmark's result; its JSON form is the -json output.
type report struct {
	Skiff     string           `json:"skiff"`
	CPUs      int              `json:"cpus"`
	ColdStart coldStart        `json:"coldStart"`
	Memory    memoryReport     `json:"memory"`
	Writes    writeReport      `json:"writes"`
	Scheduler *schedulerReport `json:"scheduler,omitempty"`
	Rollout   *rolloutReport   `json:"rollout,omitempty"`
}

type coldStart struct {
	Runs           int     `json:"runs"`
	MedianMs       float64 `json:"medianMs"`
	MinMs          float64 `json:"minMs"`
	MaxMs          float64 `json:"maxMs"`
	BudgetMs       float64 `json:"budgetMs"`
	AnchorMs       float64 `json:"anchorMs"`
	AnchorMeasured bool    `json:"anchorMeasured"`
}

type memoryReport struct {
	Samples        []memorySample `json:"samples"`
	BudgetMiB      float64        `json:"budgetMiB"`
	AnchorMiB      float64        `json:"anchorMiB"`
	AnchorMeasured bool           `json:"anchorMeasured"`
}

type memorySample struct {
	After  string  `json:"after"`
	RSSMiB float64 `json:"rssMiB"`
	PSSMiB float64 `json:"pssMiB"`
	// Budgeted says the budget applies to this sample; later samples are for information.
	Budgeted bool `json:"budgeted"`
}

type writeReport struct {
	Objects        int     `json:"objects"`
	Workers        int     `json:"workers"`
	ObjectsPerSec  float64 `json:"objectsPerSecond"`
	P50Ms          float64 `json:"p50Ms"`
	P99Ms          float64 `json:"p99Ms"`
	MaxMs          float64 `json:"maxMs"`
	Anchor         string  `json:"anchor"`
	AnchorMeasured bool    `json:"anchorMeasured"`
}

func run(ctx context.Context, o options) (*report, error) {
	if o.runs < 1 || o.creates < 1 || o.workers < 1 {
		return nil, errors.New("-runs, -creates and -workers must be at least 1")
	}
	version, err := skiffVersion(ctx, o.skiff)
	if err != nil {
		return nil, err
	}
	r := &report{Skiff: version, CPUs: runtime.NumCPU()}

	starts := make([]time.Duration, o.runs)
	for i := range starts {
		s, took, err := startServer(ctx, o.skiff, "--disable", "agent,controllers")
		if err != nil {
			return nil, fmt.Errorf("cold start %d: %w", i+1, err)
		}
		starts[i] = took
		if err := s.stop(); err != nil {
			return nil, fmt.Errorf("cold start %d: stop: %w", i+1, err)
		}
	}
	slices.Sort(starts)
	r.ColdStart = coldStart{
		Runs: o.runs, MedianMs: ms(median(starts)), MinMs: ms(starts[0]), MaxMs: ms(starts[o.runs-1]),
		BudgetMs: ms(startBudget), AnchorMs: ms(startAnchor),
	}

	s, _, err := startServer(ctx, o.skiff, "--disable", "agent,controllers")
	if err != nil {
		return nil, err
	}
	if err := measureLoad(ctx, s, o, r); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.stop(); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	if !o.controllers {
		return r, nil
	}
	sched, err := benchScheduler(ctx, o.skiff, o.nodes, o.pods, o.workers)
	if err != nil {
		return nil, fmt.Errorf("scheduler benchmark: %w", err)
	}
	r.Scheduler = &sched
	if o.rolloutReplicas > 0 {
		rollout, err := benchRollout(ctx, o.skiff, o.rolloutReplicas, o.rolloutReplicas)
		if err != nil {
			return nil, fmt.Errorf("rollout benchmark: %w", err)
		}
		r.Rollout = &rollout
	}
	return r, nil
}

// measureLoad samples the memory of a fresh server s, loads it with ConfigMaps and runs the write benchmark.
func measureLoad(ctx context.Context, s *server, o options, r *report) error {
	r.Memory = memoryReport{BudgetMiB: memoryBudgetMiB, AnchorMiB: memoryAnchorMiB}
	sample := func(after string, budgeted bool) error {
		m, err := s.memory()
		if err != nil {
			return fmt.Errorf("memory after %s: %w", after, err)
		}
		r.Memory.Samples = append(r.Memory.Samples, memorySample{After: after, RSSMiB: mib(m.RSS), PSSMiB: mib(m.PSS), Budgeted: budgeted})
		return nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig())
	if err != nil {
		return fmt.Errorf("load %s: %w", s.kubeconfig(), err)
	}

	if err := sample("start", true); err != nil {
		return err
	}
	if _, err := createConfigMaps(ctx, cfg, "rss", memoryConfigMaps, 1); err != nil {
		return err
	}
	if err := sample(fmt.Sprintf("%d ConfigMaps", memoryConfigMaps), true); err != nil {
		return err
	}

	w, err := createConfigMaps(ctx, cfg, "write", o.creates, o.workers)
	if err != nil {
		return err
	}
	r.Writes = writeReport{
		Objects: o.creates, Workers: o.workers, ObjectsPerSec: w.PerSecond,
		P50Ms: ms(w.P50), P99Ms: ms(w.P99), MaxMs: ms(w.Max),
		Anchor: "kube-apiserver's rate in the same run",
	}
	return sample(fmt.Sprintf("%d more (write benchmark)", o.creates), false)
}

func (r *report) print(w io.Writer) error {
	c, m, wr := r.ColdStart, r.Memory, r.Writes
	var b strings.Builder
	fmt.Fprintf(&b, "skiff %s, %d CPUs\n\n", r.Skiff, r.CPUs)

	fmt.Fprintf(&b, "cold start to /readyz ok, fresh data dir (%d runs)\n", c.Runs)
	fmt.Fprintf(&b, "  median %.0f ms  min %.0f ms  max %.0f ms\n", c.MedianMs, c.MinMs, c.MaxMs)
	fmt.Fprintf(&b, "  budget <= %.0f ms: %s (median %.2fx budget)\n", c.BudgetMs, verdict(c.MedianMs <= c.BudgetMs), c.MedianMs/c.BudgetMs)
	fmt.Fprintf(&b, "  anchor kube-apiserver 1.36 with etcd: %.0f ms on this machine (DESIGN.md), %.2fx skiff's median;\n", c.AnchorMs, c.AnchorMs/c.MedianMs)
	fmt.Fprintf(&b, "         %s\n\n", notMeasured)

	fmt.Fprintf(&b, "server memory\n")
	for _, s := range m.Samples {
		fmt.Fprintf(&b, "  after %-30s VmRSS %6.1f MiB  Pss %6.1f MiB", s.After, s.RSSMiB, s.PSSMiB)
		if s.Budgeted {
			fmt.Fprintf(&b, "  budget <= %.0f MiB: %s", m.BudgetMiB, verdict(s.RSSMiB <= m.BudgetMiB))
		} else {
			fmt.Fprintf(&b, "  (no budget)")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  anchor kube-apiserver alone: ~%.0f MiB; %s\n\n", m.AnchorMiB, notMeasured)

	fmt.Fprintf(&b, "ConfigMap creates, %d objects from %d clients (no client-side rate limit)\n", wr.Objects, wr.Workers)
	fmt.Fprintf(&b, "  %.0f objects/s  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", wr.ObjectsPerSec, wr.P50Ms, wr.P99Ms, wr.MaxMs)
	fmt.Fprintf(&b, "  budget >= %s: %s\n", wr.Anchor, notMeasured)
	if sc := r.Scheduler; sc != nil {
		fmt.Fprintf(&b, "\nscheduler alone, %d pods on %d simulated nodes (first bind to last)\n", sc.Pods, sc.Nodes)
		fmt.Fprintf(&b, "  %.0f pods/s in %.1f s  budget >= %.0f pods/s: %s\n", sc.PodsPerSec, sc.Seconds, sc.BudgetPodsPerSec,
			minimumVerdict(sc.PodsPerSec >= sc.BudgetPodsPerSec))
		fmt.Fprintf(&b, "  anchor %s (quoted, not measured)\n", sc.Anchor)
		fmt.Fprintf(&b, "  server with controllers and agent started: all %d pods Running after %.1f s\n", sc.PodsRunning, sc.RunningSeconds)
		fmt.Fprintf(&b, "  memory with %d pods running: server (with controllers) VmRSS %.1f MiB  Pss %.1f MiB; agent of %d nodes VmRSS %.1f MiB\n",
			sc.PodsRunning, sc.ServerRSSMiB, sc.ServerPSSMiB, sc.Nodes, sc.AgentRSSMiB)
	}
	if ro := r.Rollout; ro != nil {
		fmt.Fprintf(&b, "\nrolling update of a %d-replica Deployment on %d simulated nodes: %.1f s\n", ro.Replicas, ro.Nodes, ro.Seconds)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// minimumVerdict is verdict for a budget that is a floor.
func minimumVerdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "BELOW"
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER"
}

// skiffVersion returns the version the binary reports, e.g. "v1.37.2+skiff.0fac5f1".
func skiffVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", bin, err)
	}
	fields := strings.Fields(string(out)) // skiff version VERSION (commit ...)
	if len(fields) < 3 {
		return "", fmt.Errorf("%s version: unexpected output %q", bin, out)
	}
	return fields[2], nil
}

// median of sorted, which must not be empty.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }
