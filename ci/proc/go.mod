// Process plumbing shared by the control plane (ci/testenv) and KAI (ci/kai): both run their
// components as child processes of one foreground process. Standard library only.
module github.com/clearml-runai/proc

go 1.25.0
