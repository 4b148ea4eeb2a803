package main

import (
	"context"
	"fmt"
	"log"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/clearml-runai/proc"
)

var shardResource = schema.GroupVersionResource{Group: "kai.scheduler", Version: "v1", Resource: "schedulingshards"}

// shardSpec is what a scheduler process is started from: KAI's operator turns
// each SchedulingShard into a scheduler Deployment the same way.
type shardSpec struct {
	partition string            // spec.partitionLabelValue: "" is the nodes without a node-pool label
	args      map[string]string // spec.args: extra scheduler flags
}

type runningShard struct {
	spec       shardSpec
	generation int64
	child      *proc.Child
	metrics    string // http://127.0.0.1:port/metrics, answered once the scheduler runs
}

// shards keeps one KAI scheduler process per SchedulingShard object.
type shards struct {
	opts    *upOptions
	dyn     dynamic.Interface
	mu      sync.Mutex
	running map[string]*runningShard
	failed  chan error // a scheduler that exited on its own
	stopped bool
}

func newShards(opts *upOptions, dyn dynamic.Interface) *shards {
	return &shards{opts: opts, dyn: dyn, running: map[string]*runningShard{}, failed: make(chan error, 1)}
}

func specOf(obj *unstructured.Unstructured) shardSpec {
	spec := shardSpec{args: map[string]string{}}
	spec.partition, _, _ = unstructured.NestedString(obj.Object, "spec", "partitionLabelValue")
	args, _, _ := unstructured.NestedMap(obj.Object, "spec", "args")
	for k, v := range args {
		spec.args[k] = fmt.Sprint(v)
	}
	return spec
}

// watch starts the informer; every change of the shard set is reconciled.
func (s *shards) watch(ctx context.Context) {
	factory := dynamicinformer.NewDynamicSharedInformerFactory(s.dyn, 10*time.Minute)
	informer := factory.ForResource(shardResource).Informer()
	reconcile := func(any) { s.reconcile(informer.GetStore().List()) }
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    reconcile,
		UpdateFunc: func(_, n any) { reconcile(n) },
		DeleteFunc: reconcile,
	})
	factory.Start(ctx.Done())
}

func (s *shards) reconcile(items []any) {
	want := map[string]shardSpec{}
	generation := map[string]int64{}
	for _, item := range items {
		if obj, ok := item.(*unstructured.Unstructured); ok && obj.GetDeletionTimestamp() == nil {
			want[obj.GetName()] = specOf(obj)
			generation[obj.GetName()] = obj.GetGeneration()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	for name, r := range s.running {
		if spec, ok := want[name]; !ok || !reflect.DeepEqual(spec, r.spec) {
			log.Printf("scheduling shard %s changed or removed: stopping its scheduler", name)
			delete(s.running, name)
			r.child.Stop(15 * time.Second)
		}
	}
	for name, spec := range want {
		if _, ok := s.running[name]; ok {
			continue
		}
		r, err := s.start(name, spec)
		if err != nil {
			s.report(fmt.Errorf("scheduler of shard %s: %w", name, err))
			continue
		}
		r.generation = generation[name]
		s.running[name] = r
		go s.supervise(name, r)
		go s.markAvailable(name, r)
	}
}

// markAvailable sets the shard's condition Available=True once its scheduler
// answers, so that a test can wait for a node pool it just made.
func (s *shards) markAvailable(name string, r *runningShard) {
	deadline := time.Now().Add(2 * time.Minute)
	for !httpOK(r.metrics) {
		select {
		case <-r.child.Done:
			return
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.report(fmt.Errorf("the scheduler of shard %s did not answer on %s within 2m", name, r.metrics))
			return
		}
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{map[string]any{
		"type":               "Available",
		"status":             "True",
		"reason":             "SchedulerRunning",
		"message":            fmt.Sprintf("scheduler pid %d serves partition %q", r.child.Pid(), r.spec.partition),
		"observedGeneration": r.generation,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.dyn.Resource(shardResource).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		log.Printf("status of scheduling shard %s: %v", name, err)
	}
}

func (s *shards) start(name string, spec shardSpec) (*runningShard, error) {
	ports, err := proc.FreePorts(2)
	if err != nil {
		return nil, err
	}
	o := s.opts
	args := []string{
		"scheduler",
		"--scheduler-name=" + o.schedulerName,
		"--queue-label-key=" + o.queueLabelKey,
		"--nodepool-label-key=" + o.nodePoolLabelKey,
		"--partition-label-value=" + spec.partition,
		fmt.Sprintf("--listen-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--plugin-server-port=%d", ports[1]),
		"--schedule-period=1s",
	}
	keys := make([]string, 0, len(spec.args))
	for k := range spec.args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, fmt.Sprintf("--%s=%s", k, spec.args[k]))
	}
	p, err := startComponent("scheduler["+name+"]", filepath.Join(o.logDir, "scheduler-"+name+".log"), o.childEnv, args...)
	if err != nil {
		return nil, err
	}
	return &runningShard{spec: spec, child: p, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0])}, nil
}

// supervise reports a scheduler that exits while its shard still exists.
func (s *shards) supervise(name string, r *runningShard) {
	<-r.child.Done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[name] == r && !s.stopped {
		s.report(fmt.Errorf("the scheduler of shard %s exited: %v (see its log)", name, r.child.Err))
	}
}

func (s *shards) report(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// endpoints lists the metrics URL of every running scheduler (readiness).
func (s *shards) endpoints() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for name, r := range s.running {
		out[name] = r.metrics
	}
	return out
}

func (s *shards) stopAll() {
	s.mu.Lock()
	s.stopped = true
	running := s.running
	s.running = map[string]*runningShard{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range running {
		wg.Add(1)
		go func(r *runningShard) {
			defer wg.Done()
			r.child.Stop(15 * time.Second)
		}(r)
	}
	wg.Wait()
}
