package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	kaicrds "github.com/kai-scheduler/KAI-scheduler/deployments/kai-scheduler/crds"
)

const fieldManager = "kai-testenv"

// applyCRDs installs the CRDs of the KAI release built in (server-side apply)
// and waits until the API server serves every one of them.
func applyCRDs(ctx context.Context, cfg *rest.Config) error {
	client, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crds, err := kaicrds.LoadEmbeddedCRDs()
	if err != nil {
		return err
	}
	for _, crd := range crds {
		crd.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
		body, err := json.Marshal(crd)
		if err != nil {
			return err
		}
		_, err = client.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, crd.Name, types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: fieldManager, Force: ptrTo(true)})
		if err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.Name, err)
		}
	}
	// Established right after the apply may not be reported yet: poll.
	deadline := time.Now().Add(60 * time.Second)
	for _, crd := range crds {
		for {
			got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err == nil && established(got) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after 60s (last error: %v)", crd.Name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

var configResource = schema.GroupVersionResource{Group: "kai.scheduler", Version: "v1", Resource: "configs"}

// applyConfig records the names this KAI runs with in KAI's own Config object
// (kai-config), where an operator-installed KAI keeps them too: the tests and
// "kubectl get config kai-config -o yaml" read them there.
func applyConfig(ctx context.Context, dyn dynamic.Interface, o *upOptions) error {
	cfg := map[string]any{
		"apiVersion": "kai.scheduler/v1",
		"kind":       "Config",
		"metadata":   map[string]any{"name": "kai-config"},
		"spec": map[string]any{"global": map[string]any{
			"schedulerName":    o.schedulerName,
			"queueLabelKey":    o.queueLabelKey,
			"nodePoolLabelKey": o.nodePoolLabelKey,
		}},
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	_, err = dyn.Resource(configResource).Patch(ctx, "kai-config", types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: fieldManager, Force: ptrTo(true)})
	if err != nil {
		return fmt.Errorf("apply Config kai-config: %w", err)
	}
	return nil
}

// readObjects decodes every document of the YAML (or JSON) files.
func readObjects(paths []string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw map[string]any
			if err := dec.Decode(&raw); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if len(raw) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: raw}
			if obj.GetKind() == "" || obj.GetName() == "" {
				return nil, fmt.Errorf("%s: a document without kind or metadata.name", path)
			}
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// createMissing creates each object that does not exist yet, with its status
// (a Node's capacity, for one), and leaves existing ones as they are: a
// restart never undoes what a test changed.
func createMissing(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		var client dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			client = dyn.Resource(mapping.Resource).Namespace(ns)
		}
		status, hasStatus := obj.Object["status"]
		created, err := client.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		if hasStatus {
			// A merge patch: controllers may have changed the object since (a new
			// Node gets its taints at once).
			patch, err := json.Marshal(map[string]any{"status": status})
			if err != nil {
				return err
			}
			_, err = client.Patch(ctx, created.GetName(), types.MergePatchType, patch,
				metav1.PatchOptions{FieldManager: fieldManager}, "status")
			if err != nil {
				return fmt.Errorf("status of %s %s: %w", gvk.Kind, obj.GetName(), err)
			}
		}
	}
	return nil
}
