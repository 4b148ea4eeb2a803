// clearml-runai-render renders the clearml-runai-agent chart for many releases in one process, with helm's own
// library at the version the project pins, exactly as `helm template RELEASE CHART --namespace NS --values -`
// does for one. The operator starts it once and sends it one request per line; each `helm template` process
// would spend ~50 ms of CPU starting up before it renders anything.
//
// Protocol (one JSON object per line each way):
//
//	in:  {"release": "clearml-runai-team-a", "namespace": "runai-team-a", "values": "<values YAML or JSON>"}
//	out: {"manifest": "<what helm template prints>"} or {"error": "<helm's error>"}
//
// Usage: clearml-runai-render CHART_DIR
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
)

type request struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	Values    string `json:"values"`
}

type answer struct {
	Manifest string `json:"manifest,omitempty"`
	Error    string `json:"error,omitempty"`
}

// render is `helm template` for one release: client-only dry run, the name check skipped, no CRDs, hooks
// printed after the manifest as helm template prints them.
func render(ch *chart.Chart, req request) (manifest string, err error) {
	defer func() { // a panic in the template engine fails this request, not the process
		if r := recover(); r != nil {
			manifest, err = "", fmt.Errorf("helm panicked rendering %s: %v", req.Release, r)
		}
	}()
	vals, err := loader.LoadValues(bytes.NewReader([]byte(req.Values)))
	if err != nil {
		return "", fmt.Errorf("failed to parse -: %w", err) // helm template --values - says so
	}
	vals = loader.MergeMaps(map[string]interface{}{}, vals)
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = req.Release
	install.Namespace = req.Namespace
	install.Replace = true
	got, err := install.RunWithContext(context.Background(), ch, vals)
	if err != nil {
		return "", err
	}
	rel, ok := got.(*release.Release)
	if !ok {
		return "", fmt.Errorf("unsupported release type %T", got)
	}
	var out strings.Builder
	fmt.Fprintln(&out, strings.TrimSpace(rel.Manifest))
	for _, hook := range rel.Hooks {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", hook.Path, hook.Manifest)
	}
	return out.String(), nil
}

func serve(chartDir string, in io.Reader, out io.Writer) error {
	loaded, err := loader.Load(chartDir)
	if err != nil {
		return fmt.Errorf("cannot load the chart %s: %w", chartDir, err)
	}
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	writer := bufio.NewWriter(out)
	encoder := json.NewEncoder(writer)
	for scanner.Scan() {
		var req request
		var ans answer
		if err := json.Unmarshal(scanner.Bytes(), &req); err != nil {
			ans.Error = fmt.Sprintf("a request that is not JSON: %v", err)
		} else if manifest, err := render(loaded, req); err != nil {
			ans.Error = err.Error()
		} else {
			ans.Manifest = manifest
		}
		if err := encoder.Encode(ans); err != nil {
			return err
		}
		if err := writer.Flush(); err != nil {
			return err
		}
	}
	return scanner.Err()
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: clearml-runai-render CHART_DIR (requests on stdin, one JSON object per line)")
		os.Exit(2)
	}
	// helm's library logs warnings as it goes; nobody reads them here, and a full stderr pipe would block it
	slog.SetDefault(slog.New(slog.DiscardHandler))
	log.SetOutput(io.Discard)
	if err := serve(os.Args[1], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "clearml-runai-render: %v\n", err)
		os.Exit(1)
	}
}
