"""The local sandbox: what the tests, the demo (ci/demo.py) and the benchmarks run the tool against.

- `paths`: the repository's paths, its pinned tools (`tool`) and the CLI as installed (`CLI`).
- `names`: a Run:ai project's names (namespace `runai-P`, release `clearml-runai-P`, queue `runai-P`)
  and unique project names for scenarios that run side by side.
- `cluster`: kubectl, helm and the CLI against one kubeconfig (`Kube`); ClearML installs made by the
  real upstream charts, Run:ai projects with our release, the agent of a release; a second control plane.
- `kai`: KAI (the open-source core of the Run:ai scheduler) on the local control plane: queues, fake
  GPU nodes, node pools, task pods and their placement.
- `registry`: a real OCI registry on a free local port.
- `agent_harness`: the pinned clearml-agent's daemon, started as the chart's container starts it, and
  the ClearML stand-in it talks to.
- `corpus`: installs of the vendored upstream charts (`fixtures/upstream-charts`), the values users
  set, installed as helm releases or rendered offline; `fixtures.installs`: compact models of installs.

The control plane itself is built and supervised by ci/cluster.sh; nothing here imports from tests/.
"""
