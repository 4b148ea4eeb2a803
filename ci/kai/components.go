package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	admissionapp "github.com/kai-scheduler/KAI-scheduler/cmd/admission/app"
	binderapp "github.com/kai-scheduler/KAI-scheduler/cmd/binder/app"
	podgrouperapp "github.com/kai-scheduler/KAI-scheduler/cmd/podgrouper/app"
	schedulerapp "github.com/kai-scheduler/KAI-scheduler/cmd/scheduler/app"
	admissionplugins "github.com/kai-scheduler/KAI-scheduler/pkg/admission/plugins"
	admissiongpusharing "github.com/kai-scheduler/KAI-scheduler/pkg/admission/webhook/v1alpha2/gpusharing"
	"github.com/kai-scheduler/KAI-scheduler/pkg/admission/webhook/v1alpha2/runtimeenforcement"
	binderplugins "github.com/kai-scheduler/KAI-scheduler/pkg/binder/plugins"

	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	kwoksignals "sigs.k8s.io/kwok/pkg/utils/signals"
)

// kaiVersion is set at build time to the KAI release built (ci/build.sh).
var kaiVersion = "unknown"

// components run one upstream program each, in a process of its own: they
// parse the process's global flag sets, so two of them never share a process.
var components = map[string]func() int{
	"scheduler":  runScheduler,
	"binder":     runBinder,
	"podgrouper": runPodGrouper,
	"admission":  runAdmission,
	"kwok":       runKwok,
}

func fail(component string, err error) int {
	fmt.Fprintf(os.Stderr, "kai %s: %v\n", component, err)
	return 1
}

func runScheduler() int {
	if err := schedulerapp.RunApp(); err != nil {
		return fail("scheduler", err)
	}
	return 0
}

func runPodGrouper() int {
	if err := podgrouperapp.Run(); err != nil {
		return fail("podgrouper", err)
	}
	return 0
}

// runBinder wires the binder as KAI's release image does (since v0.16 from its
// plugin configuration, --plugins): the Kubernetes plugins (volumes, dynamic
// resources) and GPU sharing (fractions and their reservation pods).
func runBinder() int {
	options := binderapp.InitOptions(nil)
	zapOptions := zap.Options{Development: true, TimeEncoder: zapcore.ISO8601TimeEncoder}
	zapOptions.BindFlags(flag.CommandLine)
	pflag.CommandLine.AddGoFlagSet(flag.CommandLine)
	pflag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions)))

	app, err := binderapp.New(options, ctrl.GetConfigOrDie())
	if err != nil {
		return fail("binder", err)
	}
	binderplugins.InitDefaultPlugins()
	defaults := binderplugins.DefaultConfig(binderplugins.DefaultBindTimeoutSeconds, binderplugins.DefaultCDIEnabled)
	config := binderplugins.ResolveConfig(defaults, nil)
	if app.Options.Plugins.Value != nil {
		config = binderplugins.ResolveConfig(defaults, *app.Options.Plugins.Value)
	}
	plugins, err := binderplugins.BuildConfiguredPlugins(binderplugins.PluginBuildContext{
		KubeClient:      app.Client,
		K8sInterface:    app.K8sInterface,
		InformerFactory: app.InformerFactory,
	}, config)
	if err != nil {
		return fail("binder", err)
	}
	app.RegisterPlugins(plugins)
	if err := app.Run(ctrl.SetupSignalHandler()); err != nil {
		return fail("binder", err)
	}
	return 0
}

// runAdmission is KAI's pod webhook: for pods of its scheduler it validates GPU
// requests and, for GPU fractions, adds the shared-GPU configmap annotation,
// volume and env that the binder fills in.
func runAdmission() int {
	app, err := admissionapp.New()
	if err != nil {
		return fail("admission", err)
	}
	plugins := admissionplugins.New()
	plugins.RegisterPlugin(admissiongpusharing.New(app.Client, app.Options.GPUSharingEnabled))
	// since v0.16 only fraction pods get the runtime class
	if rc := app.Options.ResolvedGPUFractionRuntimeClassName(); rc != "" {
		plugins.RegisterPlugin(runtimeenforcement.New(rc))
	}
	app.RegisterPlugins(plugins)
	if err := app.Run(); err != nil {
		return fail("admission", err)
	}
	return 0
}

func runKwok() int {
	flags := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flags.ParseErrorsWhitelist.UnknownFlags = true
	flags.Usage = func() {}
	ctx := kwoksignals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flags)
	ctx, err := kwokconfig.InitFlags(ctx, flags)
	if err != nil {
		return fail("kwok", err)
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flags)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok exited", err)
		return 1
	}
	return 0
}
