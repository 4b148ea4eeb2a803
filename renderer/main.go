// clearml-runai-render renders the clearml-runai-agent chart for many releases in one process, with helm's own
// library at the version the project pins, as `helm template RELEASE CHART --namespace NS --values -` renders
// one. The operator starts it once and sends it one request per line; a `helm template` process spends ~50 ms
// of CPU starting up before it renders anything.
//
// It takes the steps of helm's client-only install that `helm template` without flags runs (no CRDs, no
// post-renderer): the release name check, dependencies, values coalesced over the chart's and checked against
// its schema, the engine, NOTES.txt left out, the manifests sorted in install order, each under its
// "# Source:" line, then the hooks; not helm's action package, which brings the Kubernetes clients and kubectl
// along (twice the binary and the memory). tests/chart/test_renderer.py holds its output byte for byte to
// helm template's.
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
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
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

// render is `helm template` for one release (pkg/action's Install.RunWithContext and renderResources with
// a client-only dry run, Replace, no CRDs, no post-renderer): hooks printed after the manifest as helm
// template prints them; NOTES.txt left out as helm template leaves it out.
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
	if err := chartutil.ValidateReleaseName(req.Release); err != nil {
		return "", fmt.Errorf("release name check failed: release name %q: %w", req.Release, err)
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return "", fmt.Errorf("chart dependencies processing failed: %w", err)
	}
	caps := common.DefaultCapabilities.Copy()
	options := common.ReleaseOptions{Name: req.Release, Namespace: req.Namespace, Revision: 1, IsInstall: true}
	values, err := util.ToRenderValuesWithSchemaValidation(ch, vals, options, caps, false)
	if err != nil {
		return "", err
	}
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	var e engine.Engine
	files, err := e.Render(ch, values)
	if err != nil {
		return "", err
	}
	for k := range files {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(files, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	var out strings.Builder
	fmt.Fprintln(&out, strings.TrimSpace(b.String()))
	for _, hook := range hooks {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", hook.Path, hook.Manifest)
	}
	return out.String(), nil
}

func serve(chartDir string, in io.Reader, out io.Writer) error {
	if _, err := loader.Load(chartDir); err != nil {
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
		} else if manifest, err := renderFresh(chartDir, req); err != nil {
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

// renderFresh renders from the chart loaded anew, as each helm process loads it: a render changes the loaded
// chart (its dependencies processed), so nothing of one request reaches the next.
func renderFresh(chartDir string, req request) (string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return "", fmt.Errorf("cannot load the chart %s: %w", chartDir, err)
	}
	return render(ch, req)
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
