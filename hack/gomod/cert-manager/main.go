// cert-manager-controller: the cert-manager controllers of github.com/cert-manager/cert-manager, run
// outside the cluster against a kubeconfig. Built and cached by `hack/components cert-manager`.
//
// The upstream binary (module github.com/cert-manager/cert-manager/cmd/controller) is not served by
// the Go module proxy, so this project-owned entry point wires the controllers of the root module's
// pkg/controller/... itself. Only the issuer types the local tests need are compiled in: SelfSigned
// and CA (no ACME, Vault, Venafi; no ingress/gateway shims; no webhook, no cainjector). There is no
// leader election: run one instance per cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// Each import registers its controllers with controllerpkg.Register (init functions).
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer implementations the issuers/clusterissuers controllers can set up (issuer.RegisterIssuer).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

type options struct {
	kubeconfig, apiServerHost, namespace, clusterResourceNamespace string
	controllers                                                    []string
	workers                                                        int
	qps                                                            float32
	burst                                                          int
	enableOwnerRef                                                 bool
	copiedAnnotationPrefixes                                       []string
	minBackoff, maxBackoff                                         time.Duration
	metricsAddress                                                 string
	logging                                                        *logsapi.LoggingConfiguration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager-controller: %v\n", err)
		logf.FlushLogs()
		os.Exit(1)
	}
	logf.FlushLogs()
}

func registered() []string {
	names := make([]string, 0, len(controllerpkg.Known()))
	for n := range controllerpkg.Known() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func parseFlags() (*options, error) {
	o := &options{logging: logsapi.NewLoggingConfiguration()}
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (required outside a pod)")
	fs.StringVar(&o.apiServerHost, "master", "", "API server address, overriding the kubeconfig's")
	fs.StringVar(&o.namespace, "namespace", "", "watch only this namespace (default: all namespaces)")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "kube-system",
		"namespace holding the Secrets that ClusterIssuers refer to (e.g. a CA ClusterIssuer's key pair)")
	fs.StringSliceVar(&o.controllers, "controllers", []string{"*"},
		"controllers to run: '*' for all compiled in ("+strings.Join(registered(), ", ")+"), '-name' to drop one")
	fs.IntVar(&o.workers, "concurrent-workers", 5, "workers per controller")
	fs.Float32Var(&o.qps, "kube-api-qps", 20, "client QPS when API Priority and Fairness is off")
	fs.IntVar(&o.burst, "kube-api-burst", 50, "client burst when API Priority and Fairness is off")
	fs.BoolVar(&o.enableOwnerRef, "enable-certificate-owner-ref", false,
		"make the Certificate the owner of its Secret (Secret deleted with the Certificate)")
	fs.StringSliceVar(&o.copiedAnnotationPrefixes, "copied-annotation-prefixes",
		[]string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		"annotations copied from a Certificate to its CertificateRequests")
	fs.DurationVar(&o.minBackoff, "certificate-request-minimum-backoff-duration", time.Hour,
		"first retry delay after a failed issuance")
	fs.DurationVar(&o.maxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour,
		"longest retry delay after failed issuances")
	fs.StringVar(&o.metricsAddress, "metrics-listen-address", "0",
		"serve Prometheus /metrics here (e.g. 127.0.0.1:9402); '0' disables it")
	utilfeature.DefaultMutableFeatureGate.AddFlag(fs)
	logf.AddFlags(o.logging, fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.kubeconfig == "" && o.apiServerHost == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, errors.New("--kubeconfig is required outside a cluster")
	}
	if err := logf.ValidateAndApply(o.logging); err != nil {
		return nil, err
	}
	return o, nil
}

// enabled resolves --controllers against the registered controllers ('*', 'name', '-name').
func enabled(spec []string) ([]string, error) {
	known := registered()
	var out []string
	for _, s := range spec {
		switch {
		case s == "*":
			out = append(out, known...)
		case strings.HasPrefix(s, "-"):
			continue
		case slices.Contains(known, s):
			out = append(out, s)
		default:
			return nil, fmt.Errorf("unknown controller %q (known: %s)", s, strings.Join(known, ", "))
		}
	}
	for _, s := range spec {
		if name, ok := strings.CutPrefix(s, "-"); ok {
			if !slices.Contains(known, name) {
				return nil, fmt.Errorf("unknown controller %q (known: %s)", name, strings.Join(known, ", "))
			}
			out = slices.DeleteFunc(out, func(n string) bool { return n == name })
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, errors.New("no controller enabled")
	}
	return out, nil
}

func run() error {
	logf.InitLogs()
	o, err := parseFlags()
	if err != nil {
		return err
	}
	names, err := enabled(o.controllers)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logf.Log.WithName("controller")
	ctx = logf.NewContext(ctx, log)

	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		APIServerHost:      o.apiServerHost,
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   o.qps,
		KubernetesAPIBurst: o.burst,
		Namespace:          o.namespace,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef:                           o.enableOwnerRef,
			CopiedAnnotationPrefixes:                 o.copiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: o.minBackoff,
			CertificateRequestMaximumBackoffDuration: o.maxBackoff,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: 60},
	})
	if err != nil {
		return err
	}

	// Constructing a controller registers the informers it needs with the shared factories; the
	// factories are started once every controller is constructed.
	type running struct {
		name string
		ctl  controllerpkg.Interface
	}
	var ctls []running
	for _, name := range names {
		ctl, err := controllerpkg.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("constructing controller %s: %w", name, err)
		}
		ctls = append(ctls, running{name, ctl})
	}
	shared, err := factory.Build("shared")
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(ctls)+1)
	if o.metricsAddress != "0" && o.metricsAddress != "" {
		ln, err := net.Listen("tcp", o.metricsAddress)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := shared.Metrics.NewServer(ln)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("metrics server: %w", err)
			}
		}()
		go func() { <-ctx.Done(); _ = srv.Close() }()
		log.Info("serving metrics", "address", ln.Addr().String())
	}

	for _, c := range ctls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.ctl.Run(o.workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", c.name, err)
			}
		}()
	}
	log.Info("starting shared informers")
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	log.Info("cert-manager controllers started", "controllers", names,
		"clusterResourceNamespace", o.clusterResourceNamespace)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errs:
		stop()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		log.Info("controllers did not stop within 10s")
	}
	return err
}
